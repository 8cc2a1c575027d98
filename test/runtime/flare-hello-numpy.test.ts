/**
 * Issue 18's bar: FLARE's hello-numpy client.py, unchanged (read from FLARE's files), in a job
 * folder shaped as FLARE's job.export() writes it (FedAvg + ClientAPIExecutor + NPModelPersistor,
 * test/fixtures/flare-export/hello-numpy), completes with the result FLARE's README states ("weights
 * increase by 1 each round": [[1..9]] + 3 after 3 rounds), FULL and DIFF giving the same model; in
 * the simulator, and once in a real POC (processes, mTLS, confined sites) where the job's results,
 * metrics.jsonl and TensorBoard files come back with download_job.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { cpSync, existsSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { runSimulation } from "../../src/runtime/simulator/index.js";
import { decodeNpy } from "../../src/runtime/components/npy.js";
import { testPoc } from "../helpers/poc.js";
import { editJsonFile, REPO_ROOT, runCli, tempDir } from "../helpers/index.js";
import { requireSystem } from "../helpers/requirements.js";
import { flareFile, requireFlareData } from "../helpers/flare-data.js";
import { adminCli, JobWatcher } from "../helpers/processes.js";
import { jobFromTemplate } from "./jobs/fixtures.js";

const FIXTURE = join(REPO_ROOT, "test", "fixtures", "flare-export", "hello-numpy");
const needs = (() => {
  const f = requireFlareData();
  if (f.skip) return f;
  return requireSystem("python3", "bwrap");
})();
const EXPECTED = [4, 5, 6, 7, 8, 9, 10, 11, 12];

/** The exported job with FLARE's client.py copied unchanged into custom/; `diff` as job.py --update_type diff exports it. */
function helloNumpyJob(dir: string, kind: "full" | "diff"): string {
  const job = join(dir, `hello-numpy-${kind}`);
  cpSync(FIXTURE, job, { recursive: true });
  cpSync(flareFile("examples", "hello-world", "hello-numpy", "client.py"), join(job, "app", "custom", "client.py"));
  // job.py adds TensorBoard tracking (add_experiment_tracking(recipe, tracking_type="tensorboard")).
  editJsonFile(join(job, "app", "config", "config_fed_server.json"), (c) => {
    c["components"].push({ id: "receiver", path: "nvflare.app_opt.tracking.tb.tb_receiver.TBAnalyticsReceiver", args: { events: ["fed.analytix_log_stats"] } });
  });
  if (kind === "diff")
    editJsonFile(join(job, "app", "config", "config_fed_client.json"), (c) => {
      Object.assign(c["executors"][0]["executor"]["args"], { task_script_args: "--update_type diff", params_transfer_type: "DIFF" });
    });
  return job;
}

function serverModel(runDir: string): { shape: number[]; values: number[] } {
  const file = join(runDir, "models", "server.npy");
  const m = decodeNpy(readFileSync(file), file);
  return { shape: m.shape, values: [...m.data] };
}

type Entry = { site: string; task: string; round: number; key: string; value: number; step: number | null; source: string };
const metricsOf = (runDir: string): Entry[] =>
  readFileSync(join(runDir, "metrics.jsonl"), "utf8")
    .trim()
    .split("\n")
    .map((l) => JSON.parse(l) as Entry);

function checkRunFolder(runDir: string): void {
  assert.deepEqual(serverModel(runDir), { shape: [3, 3], values: EXPECTED }, "[[1,2,3],[4,5,6],[7,8,9]] + 3 rounds of +1");
  const logged = metricsOf(runDir).filter((e) => e.source === "log" && e.key === "weight_mean");
  // client.py: summary_writer.add_scalar("weight_mean", mean(received + 1), global_step=round).
  assert.deepEqual(logged.map((e) => `${e.site}:${e.step}:${e.value}`).sort(), [
    "site-1:0:6",
    "site-1:1:7",
    "site-1:2:8",
    "site-2:0:6",
    "site-2:1:7",
    "site-2:2:8",
  ]);
  for (const site of ["site-1", "site-2"]) {
    const dir = join(runDir, "tb_events", site);
    assert.ok(existsSync(dir) && readdirSync(dir).some((f) => f.startsWith("events.out.tfevents.")), `TensorBoard events for ${site}`);
  }
}

test("hello-numpy, FLARE's client.py unchanged, in the simulator: FULL and DIFF both end at [[1..9]] + 3; metrics and TensorBoard scalars per site and round", {
  ...needs,
  timeout: 180_000,
}, async () => {
  const dir = tempDir("cohort-hello-numpy-");
  for (const kind of ["full", "diff"] as const) {
    const ws = join(dir, `ws-${kind}`);
    const r = await runSimulation({ jobDir: helloNumpyJob(dir, kind), sites: ["site-1", "site-2"], workspace: ws });
    assert.equal(r.status, "FINISHED:COMPLETED", `${kind}: ${r.reason ?? ""}\n${readFileSync(r.logFile, "utf8").slice(-3000)}`);
    checkRunFolder(join(ws, "server", "simulate_job"));
    if (kind === "diff") assert.match(readFileSync(r.logFile, "utf8"), /\(DIFFs, added to the global model\)/);
  }
});

const poc = testPoc("cohort-hello-numpy-poc-");

test("hello-numpy (DIFF) in a POC: real processes over mTLS, confined sites; download_job returns server.npy, metrics.jsonl and the TensorBoard files", {
  ...needs,
  timeout: 240_000,
}, async () => {
  await poc.start();
  const adminKit = poc.adminKit;
  const submitted = await adminCli(adminKit, `submit_job ${helloNumpyJob(tempDir("cohort-hello-numpy-job-"), "diff")}`);
  assert.equal(submitted.code, 0, submitted.text);
  const jobId = String(submitted.json["job_id"]);
  const watcher = new JobWatcher(() => adminKit);
  try {
    const meta = await watcher.wait(jobId, (s) => s.startsWith("FINISHED:"), 180_000);
    assert.equal(meta["status"], "FINISHED:COMPLETED", String(meta["status_reason"]));
  } finally {
    await watcher.close();
  }
  const dl = await adminCli(adminKit, `download_job ${jobId}`);
  assert.equal(dl.code, 0, dl.text);
  checkRunFolder(join(String(dl.json["downloaded_to"]), "workspace"));
  const stop = await runCli(["poc", "stop", "-w", poc.workspace], {}, { timeoutMs: 60_000 });
  assert.equal(stop.code, 0, stop.stderr);
});

test("a job made from FLARE's sag_np template (HOCON) runs: `nvflare job create -w sag_np -sd <hello-numpy> -f config_fed_client.conf app_script=client.py`", {
  ...needs,
  timeout: 180_000,
}, async () => {
  const dir = tempDir("cohort-sag-np-");
  const job = jobFromTemplate("sag_np", join(dir, "sag_np"));
  // What `nvflare job create ... -f config_fed_client.conf app_script=client.py` changes, and -sd copies.
  const clientConf = join(job, "app", "config", "config_fed_client.conf");
  writeFileSync(clientConf, readFileSync(clientConf, "utf8").replace('"app_script": "cifar10.py"', '"app_script": "client.py"'));
  cpSync(flareFile("examples", "hello-world", "hello-numpy", "client.py"), join(job, "app", "custom", "client.py"));
  const ws = join(dir, "ws");
  const r = await runSimulation({ jobDir: job, sites: ["site-1", "site-2"], workspace: ws });
  assert.equal(r.status, "FINISHED:COMPLETED", `${r.reason ?? ""}\n${readFileSync(r.logFile, "utf8").slice(-3000)}`);
  // NPModelPersistor's default model, 5 rounds of +1 (FULL, expected_data_kind WEIGHTS).
  assert.deepEqual(serverModel(join(ws, "server", "simulate_job")), { shape: [3, 3], values: [6, 7, 8, 9, 10, 11, 12, 13, 14] });
});
