/**
 * Issue 18: FLARE's hello-numpy-cross-val in training mode (NumpyFedAvgRecipe +
 * add_cross_site_evaluation), exported as FLARE's job.export() writes it
 * (test/fixtures/flare-export/hello-numpy-cross-val), with FLARE's client.py unchanged: FedAvg ends
 * at ten 3.0 in models/server.npy, then CrossSiteModelEval takes the server's model from the
 * NPModelLocator (`SRV_server`) and every site's own model, and every site evaluates each with
 * client.py's `evaluate` into cross_site_val/cross_val_results.json. Also FLARE's numpy components
 * themselves in a simulated job: NPTrainer and NPValidator at the sites, NPModelLocator and
 * NPFormatter at the server.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { cpSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { basename, join } from "node:path";
import { runSimulation } from "../../src/runtime/simulator/index.js";
import { decodeNpy } from "../../src/runtime/components/npy.js";
import { REPO_ROOT, tempDir } from "../helpers/index.js";
import { requireSystem } from "../helpers/requirements.js";
import { flareFile, requireFlareData } from "../helpers/flare-data.js";

const FIXTURE = join(REPO_ROOT, "test", "fixtures", "flare-export", "hello-numpy-cross-val");
const needs = (() => {
  const f = requireFlareData();
  if (f.skip) return f;
  return requireSystem("python3", "bwrap");
})();
const SITES = ["site-1", "site-2"];

/** The exported job (its README left out) with FLARE's client.py copied unchanged into custom/. */
function crossValJob(dir: string): string {
  const job = join(dir, "hello-numpy-train-cse");
  cpSync(FIXTURE, job, { recursive: true, filter: (src) => basename(src) !== "README.md" });
  cpSync(flareFile("examples", "hello-world", "hello-numpy-cross-val", "client.py"), join(job, "app", "custom", "client.py"));
  return job;
}

/** Runs `job` in the simulator to completion: the server's run folder, the log, server.npy and the cross-site matrix. */
async function simulate<Cell>(prefix: string, job: (dir: string) => string) {
  const dir = tempDir(prefix);
  const ws = join(dir, "ws");
  const r = await runSimulation({ jobDir: job(dir), sites: SITES, workspace: ws });
  const log = readFileSync(r.logFile, "utf8");
  assert.equal(r.status, "FINISHED:COMPLETED", `${r.reason ?? ""}\n${log.slice(-3000)}`);
  const runDir = join(ws, "server", "simulate_job");
  const file = join(runDir, "models", "server.npy");
  const { shape, data } = decodeNpy(readFileSync(file), file);
  const matrix = JSON.parse(readFileSync(join(runDir, "cross_site_val", "cross_val_results.json"), "utf8")) as Record<string, Record<string, Cell>>;
  return { log, model: { shape, values: [...data] }, matrix };
}

test("hello-numpy-cross-val (training + CSE), FLARE's client.py unchanged: server.npy is ten 3.0; every site evaluates every site's model and SRV_server", {
  ...needs,
  timeout: 240_000,
}, async () => {
  const { log, model, matrix } = await simulate("cohort-cross-val-", crossValJob);
  // FLARE's README: model [0.0] * 10, 3 rounds of client.py's train (+1).
  assert.deepEqual(model, { shape: [10], values: Array(10).fill(3) });
  // Every site × every model (both sites' submitted models, the locator's SRV_server), with client.py's evaluate().
  const cell = { weight_mean: 3 };
  assert.deepEqual(matrix, Object.fromEntries(SITES.map((s) => [s, { "site-1": cell, "site-2": cell, SRV_server: cell }])));
  assert.match(log, /cross-site: server models from component: SRV_server/);
});

/** A job in the shape of FLARE's hello-numpy-cross-val before recipes: its numpy components only. */
function npComponentsJob(dir: string): string {
  const job = join(dir, "np-cross-val");
  const np = "nvflare.app_common.np";
  const config = join(job, "app", "config");
  mkdirSync(config, { recursive: true });
  const json = (name: string, value: unknown): void => writeFileSync(join(name === "meta.json" ? job : config, name), JSON.stringify(value, null, 4));
  json("meta.json", { name: "np-cross-val", resource_spec: {}, min_clients: 2, deploy_map: { app: ["@ALL"] } });
  json("config_fed_server.json", {
    format_version: 2,
    workflows: [
      { id: "scatter_and_gather", path: "nvflare.app_common.workflows.scatter_and_gather.ScatterAndGather", args: { min_clients: 2, num_rounds: 2 } },
      {
        id: "cross_site_validate",
        path: "nvflare.app_common.workflows.cross_site_model_eval.CrossSiteModelEval",
        args: { model_locator_id: "model_locator", formatter_id: "formatter" },
      },
    ],
    components: [
      { id: "persistor", path: `${np}.np_model_persistor.NPModelPersistor`, args: {} },
      {
        id: "aggregator",
        path: "nvflare.app_common.aggregators.intime_accumulate_model_aggregator.InTimeAccumulateWeightedAggregator",
        args: { expected_data_kind: "WEIGHTS" },
      },
      { id: "model_locator", path: `${np}.np_model_locator.NPModelLocator`, args: {} },
      { id: "formatter", path: `${np}.np_formatter.NPFormatter`, args: {} },
      { id: "json_generator", path: "nvflare.app_common.widgets.validation_json_generator.ValidationJsonGenerator", args: {} },
    ],
  });
  json("config_fed_client.json", {
    format_version: 2,
    executors: [
      { tasks: ["train", "submit_model"], executor: { path: `${np}.np_trainer.NPTrainer`, args: {} } },
      { tasks: ["validate"], executor: { path: `${np}.np_validator.NPValidator`, args: {} } },
    ],
  });
  return job;
}

test("FLARE's NPTrainer, NPValidator, NPModelLocator and NPFormatter in a simulated job: two rounds of +1, then every site's model and SRV_server evaluated everywhere", {
  timeout: 120_000,
}, async () => {
  const { log, model, matrix } = await simulate<{ accuracy: number }>("cohort-np-job-", npComponentsJob);
  assert.deepEqual(model, { shape: [3, 3], values: [3, 4, 5, 6, 7, 8, 9, 10, 11] }, "FLARE's default [[1..9]] + 2 rounds of delta 1");
  // Every model is [[3..11]]: NPValidator's accuracy is 63 / 11 plus a random number in [0, 1).
  for (const site of SITES) {
    assert.deepEqual(Object.keys(matrix[site] ?? {}), ["site-1", "site-2", "SRV_server"]);
    for (const cell of Object.values(matrix[site] ?? {})) assert.ok(cell.accuracy >= 63 / 11 - 1e-6 && cell.accuracy < 63 / 11 + 1, JSON.stringify(cell));
  }
  assert.match(
    log,
    /cross-site: \{'site-1': \{'site-1': \{'accuracy': [\d.]+\}, 'site-2': \{'accuracy': [\d.]+\}, 'SRV_server': \{'accuracy': [\d.]+\}\}, 'site-2': /,
  );
});
