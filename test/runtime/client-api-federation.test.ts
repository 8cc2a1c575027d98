/**
 * Issue 7 with real processes over mTLS (a server and three sites started with `cohort start`,
 * jobs submitted with `cohort admin`): the Python example trains through the Client API and the
 * global model improves; a TypeScript Client API job reports its logged metrics; the cyclic and
 * cross-site evaluation examples complete; a script that crashes or hangs fails only its task and
 * the sites go on; aborting a job leaves no training process behind.
 */
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { cpSync, existsSync, readdirSync, readFileSync, readlinkSync } from "node:fs";
import { join } from "node:path";
import { REPO_ROOT, writeFile } from "../helpers/index.js";
import { requireSystem } from "../helpers/requirements.js";
import { startFederation, configureScheduler, stopFederation } from "../helpers/federation.js";
import { adminCli, JobWatcher, type AdminCliResult, type CohortProcess } from "../helpers/processes.js";
import { findSandboxTools } from "../../src/runtime/sandbox/index.js";

const SITES = ["site-1", "site-2", "site-3"];
const ADMIN = "admin@nvidia.com";
const needsPython = requireSystem("python3");

let dir = "";
let prodDir = "";
let server: CohortProcess;
const sites = new Map<string, CohortProcess>();
const kit = (n: string): string => join(prodDir, n);

const admin = (command: string): Promise<AdminCliResult> => adminCli(kit(ADMIN), command, 60_000);

const watcher = new JobWatcher(
  () => kit(ADMIN),
  () => `sites:\n${[...sites.values()].map((p) => p.output.slice(-1500)).join("\n")}`,
);
const waitStatus = (jobId: string, done: (status: string, meta: Record<string, unknown>) => boolean, timeoutMs = 90_000): Promise<Record<string, unknown>> =>
  watcher.wait(jobId, done, timeoutMs);

type Json = Record<string, unknown>;
type Cfg = Json & {
  workflows?: { args: Json }[];
  components?: { id: string; path: string; args: Json }[];
  executors?: { tasks: string[]; executor: { path: string; args: Json } }[];
};

/** A job folder from an example, with changes and extra custom files. */
function job(
  example: string,
  name: string,
  change: (f: { meta: Json; server: Cfg; client: Cfg }) => void = () => undefined,
  custom: Record<string, string> = {},
): string {
  const dst = join(dir, "jobs", name);
  cpSync(join(REPO_ROOT, "examples", "jobs", example), dst, { recursive: true });
  const read = (p: string): Json => JSON.parse(readFileSync(join(dst, p), "utf8")) as Json;
  const f = { meta: read("meta.json"), server: read("app/config/config_fed_server.json") as Cfg, client: read("app/config/config_fed_client.json") as Cfg };
  f.meta["name"] = name;
  change(f);
  writeFile(join(dst, "meta.json"), JSON.stringify(f.meta));
  writeFile(join(dst, "app/config/config_fed_server.json"), JSON.stringify(f.server));
  writeFile(join(dst, "app/config/config_fed_client.json"), JSON.stringify(f.client));
  for (const [file, text] of Object.entries(custom)) writeFile(join(dst, "app", "custom", file), text);
  return dst;
}

async function submit(folder: string): Promise<string> {
  const r = await admin(`submit_job ${folder}`);
  assert.equal(r.code, 0, r.text);
  return String(r.json["job_id"]);
}

type Round = { round: number; metrics: Record<string, number>; sites: string[] };

/**
 * Host pids of a job's training scripts (misbehave.py) by site, found through /proc: inside a site's
 * sandbox a script has a PID namespace (and a file system) of its own, so it cannot tell us itself.
 */
function scriptPids(jobId: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const name of readdirSync("/proc")) {
    if (!/^\d+$/.test(name)) continue;
    try {
      if (!readFileSync(`/proc/${name}/cmdline`, "utf8").includes("misbehave.py")) continue;
      const cwd = readlinkSync(`/proc/${name}/cwd`);
      const site = SITES.find((s) => cwd.includes(`/${s}/`));
      if (cwd.includes(jobId) && site && alive(Number(name))) out.set(site, Number(name));
    } catch {
      // gone meanwhile
    }
  }
  return out;
}

function alive(pid: number): boolean {
  try {
    return !/^\d+ \(.*\) Z/.test(readFileSync(`/proc/${pid}/stat`, "utf8"));
  } catch {
    return false;
  }
}

/** A script for bad behaviour: per site, as the executor config says. */
const MISBEHAVE = `import os, sys, time
import cohort_flare as flare

flare.init()
cfg = flare.get_config()
me = flare.get_site_name()
if cfg.get("pid_dir"):
    with open(os.path.join(cfg["pid_dir"], me + ".pid"), "w") as f:
        f.write(str(os.getpid()))
while flare.is_running():
    m = flare.receive()
    if flare.is_train():
        if me == cfg.get("crash"):
            print("crashing on purpose at " + me, file=sys.stderr, flush=True)
            sys.exit(7)
        if me == cfg.get("hang") or cfg.get("hang") == "all":
            time.sleep(600)
        flare.log("accuracy", 0.5)
        flare.send(flare.FLModel(params=m.params, meta={"NUM_STEPS_CURRENT_ROUND": 1, "eval_samples": 1}))
    else:
        flare.send(flare.FLModel(metrics={"accuracy": 0.5}, meta={"eval_samples": 1}))
`;

/** TypeScript training code for the in-process Client API (custom code cannot import Cohort). */
const TS_TRAIN = `/** @param {import("../../../../src/runtime/client-api/types.js").ClientApi} flare */
export async function main(flare) {
  flare.init();
  while (flare.isRunning()) {
    const model = await flare.receive();
    if (!model) break;
    const params = {};
    for (const [k, v] of Object.entries(model.params)) params[k] = Float32Array.from(v, (x) => x * 0.5);
    flare.log("accuracy", 0.4 + 0.1 * (model.currentRound ?? 0));
    flare.log("site_number", Number(flare.getSiteName().slice(-1)));
    if (flare.isTrain()) flare.send({ params, paramsType: "FULL", meta: { NUM_STEPS_CURRENT_ROUND: 10, eval_samples: 1 } });
    else flare.send({ params: {}, meta: { eval_samples: 1 } });
  }
}
`;

before(async () => {
  const fed = await startFederation({
    project: "clientapi_test",
    sites: SITES,
    admin: ADMIN,
    prepare: (kit) => configureScheduler(kit("localhost"), { max_jobs: 1, max_schedule_count: 4, min_schedule_interval: 0.5 }),
  });
  ({ dir, prodDir, server } = fed);
  for (const [name, p] of fed.sites) sites.set(name, p);
});

after(() => stopFederation(server, sites.values(), watcher));

describe("Client API and workflows in a real federation", () => {
  // Sample counts and accuracy floor are Debian's full Fashion-MNIST's.
  test("hello-python: a NumPy script through the Python Client API trains and the global model improves", {
    ...requireSystem("python3", "dataset"),
    timeout: 120_000,
  }, async () => {
    const jobId = await submit(job("hello-python", "hello-python"));
    const meta = await waitStatus(jobId, (s) => s.startsWith("FINISHED:"));
    assert.equal(meta["status"], "FINISHED:COMPLETED", String(meta["status_reason"]));
    const rounds = meta["rounds"] as Round[];
    assert.equal(rounds.length, 3);
    const first = rounds[0]?.metrics["accuracy"] ?? 0;
    const last = rounds.at(-1)?.metrics["accuracy"] ?? 0;
    console.log(`hello-python held-out accuracy by round: ${rounds.map((r) => r.metrics["accuracy"]?.toFixed(4)).join(", ")}`);
    assert.ok(last >= 0.75, `held-out accuracy ${last} ≥ 0.75`);
    assert.ok(last > first, `the global model improves (${first} → ${last})`);
    assert.deepEqual(rounds.at(-1)?.sites, SITES);
    const siteOut = sites.get("site-1")?.output ?? "";
    assert.match(siteOut, /train\.py: site-1: 6000 training and 3334 test samples/);
    assert.match(siteOut, /train\.py metric accuracy=/);
  });

  test("a TypeScript training function through the in-process Client API; its logged metrics reach the admin", { timeout: 90_000 }, async () => {
    const folder = job(
      "hello-python",
      "hello-ts-client-api",
      (f) => {
        const wf = f.server.workflows?.[0];
        if (wf) Object.assign(wf.args, { num_rounds: 2 });
        const ex = f.client.executors?.[0];
        if (ex) ex.executor = { path: "cohort.ClientApiExecutor", args: { module: "train.mjs", task_timeout: 30 } };
      },
      { "train.mjs": TS_TRAIN },
    );
    const jobId = await submit(folder);
    const meta = await waitStatus(jobId, (s) => s.startsWith("FINISHED:"));
    assert.equal(meta["status"], "FINISHED:COMPLETED", String(meta["status_reason"]));
    const rounds = meta["rounds"] as Round[];
    assert.equal(rounds.length, 2);
    assert.ok(Math.abs((rounds[0]?.metrics["accuracy"] ?? 0) - 0.5) < 1e-9, JSON.stringify(rounds));
    assert.ok(Math.abs((rounds[0]?.metrics["site_number"] ?? 0) - 2) < 1e-9, "mean of the sites' logged site numbers");
  });

  test("hello-cyclic: the model goes site to site and reaches the stated accuracy", { timeout: 120_000 }, async () => {
    const jobId = await submit(job("hello-cyclic", "hello-cyclic"));
    const meta = await waitStatus(jobId, (s) => s.startsWith("FINISHED:"));
    assert.equal(meta["status"], "FINISHED:COMPLETED", String(meta["status_reason"]));
    const rounds = meta["rounds"] as Round[];
    assert.equal(rounds.length, 3);
    const last = rounds.at(-1)?.metrics["accuracy"] ?? 0;
    console.log(`hello-cyclic accuracy by round: ${rounds.map((r) => r.metrics["accuracy"]?.toFixed(4)).join(", ")}`);
    assert.ok(last >= 0.75, `cyclic accuracy ${last} ≥ 0.75`);
    assert.match(
      server.output,
      /cyclic round 1\/3: site-1 trained the model \(1\/3\)[\s\S]*cyclic round 1\/3: site-2 trained[\s\S]*cyclic round 1\/3: site-3 trained/,
    );
  });

  test("hello-cross-site-eval: every site evaluates every site's model and the global one; the matrix is in the job's results", {
    timeout: 120_000,
  }, async () => {
    const jobId = await submit(job("hello-cross-site-eval", "hello-cross-site-eval"));
    const meta = await waitStatus(jobId, (s) => s.startsWith("FINISHED:"));
    assert.equal(meta["status"], "FINISHED:COMPLETED", String(meta["status_reason"]));
    const dl = await admin(`download_job ${jobId}`);
    assert.equal(dl.code, 0, dl.text);
    const file = join(String(dl.json["downloaded_to"]), "workspace", "cross_site_val", "cross_val_results.json");
    assert.ok(existsSync(file), file);
    const matrix = JSON.parse(readFileSync(file, "utf8")) as Record<string, Record<string, { accuracy?: number }>>;
    assert.deepEqual(Object.keys(matrix), SITES);
    for (const site of SITES) {
      const row = matrix[site] ?? {};
      assert.deepEqual(Object.keys(row).sort(), ["SRV_global_model", ...SITES]);
      for (const cell of Object.values(row)) assert.ok(typeof cell.accuracy === "number" && cell.accuracy > 0.3, JSON.stringify(row));
    }
    const global = SITES.map((s) => matrix[s]?.["SRV_global_model"]?.accuracy ?? 0);
    console.log(`cross-site: global model accuracy at each site ${global.map((a) => a.toFixed(4)).join(", ")}`);
    const stats = await admin(`show_stats ${jobId}`);
    assert.equal(stats.code, 0, stats.text);
    assert.deepEqual(stats.json["cross_site_val"], matrix, "show_stats shows the same matrix");
  });

  test("a script that crashes or hangs fails only its task; the job completes with the others and every site goes on", {
    ...needsPython,
    timeout: 120_000,
  }, async () => {
    const folder = job(
      "hello-python",
      "misbehaving",
      (f) => {
        const wf = f.server.workflows?.[0];
        if (wf) Object.assign(wf.args, { num_rounds: 2, min_clients: 1, wait_time_after_min_received: 30 });
        f.meta["min_clients"] = 1;
        const ex = f.client.executors?.[0];
        if (ex)
          ex.executor = {
            path: "cohort.ExternalProcessExecutor",
            args: { command: ["python3", "misbehave.py"], task_timeout: 3, config: { crash: "site-1", hang: "site-2" } },
          };
      },
      { "misbehave.py": MISBEHAVE },
    );
    const jobId = await submit(folder);
    const meta = await waitStatus(jobId, (s) => s.startsWith("FINISHED:"));
    assert.equal(meta["status"], "FINISHED:COMPLETED", String(meta["status_reason"]));
    const rounds = meta["rounds"] as Round[];
    assert.deepEqual(rounds.at(0)?.sites, ["site-3"], "round 1 aggregated from the one site that answered");
    assert.match(server.output, /train at site-1 failed.*misbehave\.py exited with code 7.*crashing on purpose at site-1/);
    assert.match(server.output, /train at site-2 failed.*misbehave\.py did not answer task train within 3 s/);
    const status = await admin("check_status server");
    assert.deepEqual(status.json["clients"], SITES, "every site is still connected");
  });

  test("aborting a job stops the training processes at every site (no orphans)", { ...needsPython, timeout: 90_000 }, async () => {
    const folder = job(
      "hello-python",
      "aborted",
      (f) => {
        const ex = f.client.executors?.[0];
        if (ex) ex.executor = { path: "cohort.ExternalProcessExecutor", args: { command: ["python3", "misbehave.py"], config: { hang: "all" } } };
      },
      { "misbehave.py": MISBEHAVE },
    );
    const jobId = await submit(folder);
    const deadline = Date.now() + 60_000;
    while (scriptPids(jobId).size < SITES.length) {
      assert.ok(Date.now() < deadline, "every site started its training process");
      await new Promise((r) => setTimeout(r, 200));
    }
    const pids = [...scriptPids(jobId).values()];
    assert.ok(pids.every(alive));
    const r = await admin(`abort_job ${jobId}`);
    assert.equal(r.code, 0, r.text);
    const meta = await waitStatus(jobId, (s) => s.startsWith("FINISHED:"));
    assert.equal(meta["status"], "FINISHED:ABORTED");
    const gone = Date.now() + 15_000;
    while (pids.some(alive) && Date.now() < gone) await new Promise((res) => setTimeout(res, 100));
    assert.deepEqual(pids.filter(alive), [], "no training process outlives the aborted job");
  });

  test("a job process killed with SIGKILL takes its training script with it", { ...needsPython, timeout: 90_000 }, async () => {
    const folder = job(
      "hello-python",
      "killed-child",
      (f) => {
        const ex = f.client.executors?.[0];
        if (ex) ex.executor = { path: "cohort.ExternalProcessExecutor", args: { command: ["python3", "misbehave.py"], config: { hang: "all" } } };
      },
      { "misbehave.py": MISBEHAVE },
    );
    const jobId = await submit(folder);
    const deadline = Date.now() + 60_000;
    while (!scriptPids(jobId).has("site-1")) {
      assert.ok(Date.now() < deadline, "site-1 started its training process");
      await new Promise((r) => setTimeout(r, 200));
    }
    const script = scriptPids(jobId).get("site-1") ?? 0;
    const stat = readFileSync(`/proc/${script}/stat`, "utf8");
    const jobChild = Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]);
    assert.match(readFileSync(`/proc/${jobChild}/cmdline`, "utf8"), /job-child/, "the script's parent is site-1's job process");
    process.kill(jobChild, "SIGKILL");
    const gone = Date.now() + 15_000;
    while (alive(script) && Date.now() < gone) await new Promise((res) => setTimeout(res, 100));
    assert.equal(alive(script), false, "the training script does not outlive its job process");
    // Confined, the sandbox's PID namespace ends with the job process; unconfined, the site kills the script's group.
    if (!findSandboxTools().tools) await sites.get("site-1")?.waitFor(/killed script process group \d+ left behind/, 5_000);
    const r = await admin(`abort_job ${jobId}`);
    assert.equal(r.code, 0, r.text);
    await waitStatus(jobId, (s) => s.startsWith("FINISHED:"));
  });
});
