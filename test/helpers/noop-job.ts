/**
 * A job folder with cohort.NoOpTrainer at every site (the platform only, no training): FedAvg over a
 * small softmax model; `change` edits meta, server and client configs before they are written.
 */
import { join } from "node:path";
import { writeFile } from "./index.js";

export function noOpJob(
  dir: string,
  change: (f: { meta: Record<string, unknown>; server: Record<string, unknown>; client: Record<string, unknown> }) => void = () => undefined,
): string {
  const meta: Record<string, unknown> = { name: "noop", deploy_map: { app: ["@ALL"] }, min_clients: 2 };
  const server: Record<string, unknown> = {
    components: [
      { id: "persistor", path: "cohort.ModelPersistor", args: { model: { kind: "softmax" }, features: 16, classes: 4 } },
      { id: "aggregator", path: "cohort.WeightedAggregator", args: {} },
    ],
    workflows: [{ id: "sag", path: "cohort.ScatterAndGather", args: { min_clients: 2, num_rounds: 2, wait_time_after_min_received: 1 } }],
  };
  const client: Record<string, unknown> = { executors: [{ tasks: ["train", "validate"], executor: { id: "t", path: "cohort.NoOpTrainer", args: {} } }] };
  change({ meta, server, client });
  writeFile(join(dir, "meta.json"), JSON.stringify(meta));
  writeFile(join(dir, "app", "config", "config_fed_server.json"), JSON.stringify(server));
  writeFile(join(dir, "app", "config", "config_fed_client.json"), JSON.stringify(client));
  return dir;
}
