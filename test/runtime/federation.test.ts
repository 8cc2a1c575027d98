/**
 * The FL runtime with real processes over mTLS: a server and three sites started with
 * `cohort start`, jobs submitted with `cohort admin`. One federation serves the scenarios in order.
 */
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync, cpSync, existsSync } from "node:fs";
import { join } from "node:path";
import { evaluate, initParams, trainLocal } from "../../src/runtime/learn/models.js";
import { partitionNonIid } from "../../src/runtime/learn/partition.js";
import { loadIdxDataset } from "../../src/runtime/learn/idx.js";
import { findFashionMnist } from "../../src/runtime/datasets/index.js";
import { REPO_ROOT, runCli, writeFile } from "../helpers/index.js";
import { requireSystem } from "../helpers/requirements.js";
import { startFederation, configureScheduler, stopFederation } from "../helpers/federation.js";
import { adminCli, JobWatcher, startParticipantProcess, type AdminCliResult, type CohortProcess } from "../helpers/processes.js";

const SITES = ["site-1", "site-2", "site-3"];
const ADMIN = "admin@nvidia.com";
let dir = "";
let prodDir = "";
let server: CohortProcess;
const sites = new Map<string, CohortProcess>();

const kit = (n: string): string => join(prodDir, n);

const admin = (command: string): Promise<AdminCliResult> => adminCli(kit(ADMIN), command, 120_000);

const watcher = new JobWatcher(
  () => kit(ADMIN),
  () => `server:\n${server.output.slice(-3000)}`,
);
const waitStatus = watcher.wait.bind(watcher);

/** A job folder from the hello-fedavg example with changes. */
function job(
  name: string,
  change: (files: { meta: Record<string, unknown>; server: Record<string, unknown>; client: Record<string, unknown> }) => void,
  custom?: Record<string, string>,
): string {
  const src = join(REPO_ROOT, "examples", "jobs", "hello-fedavg");
  const dst = join(dir, "jobs", name);
  cpSync(src, dst, { recursive: true });
  const read = (p: string): Record<string, unknown> => JSON.parse(readFileSync(join(dst, p), "utf8")) as Record<string, unknown>;
  const files = { meta: read("meta.json"), server: read("app/config/config_fed_server.json"), client: read("app/config/config_fed_client.json") };
  files.meta["name"] = name;
  change(files);
  writeFile(join(dst, "meta.json"), JSON.stringify(files.meta));
  writeFile(join(dst, "app/config/config_fed_server.json"), JSON.stringify(files.server));
  writeFile(join(dst, "app/config/config_fed_client.json"), JSON.stringify(files.client));
  for (const [f, text] of Object.entries(custom ?? {})) writeFile(join(dst, "app", "custom", f), text);
  return dst;
}

type Cfg = Record<string, unknown> & {
  workflows?: { args: Record<string, unknown> }[];
  components?: { id: string; path: string; args: Record<string, unknown> }[];
  executors?: { executor: { path: string; args: Record<string, unknown> } }[];
};
const small = (f: { server: Cfg; client: Cfg }, rounds = 3): void => {
  const wf = (f.server as Cfg).workflows?.[0];
  if (wf) Object.assign(wf.args, { num_rounds: rounds, wait_time_after_min_received: 2 });
  const ex = (f.client as Cfg).executors?.[0]?.executor;
  if (ex) Object.assign(ex.args, { max_train_samples: 3000 });
};

before(async () => {
  const fed = await startFederation({
    project: "federation_test",
    sites: SITES,
    admin: ADMIN,
    prepare: (kit) => configureScheduler(kit("localhost"), { max_jobs: 1, max_schedule_count: 4, min_schedule_interval: 0.5 }),
  });
  ({ dir, prodDir, server } = fed);
  for (const [name, p] of fed.sites) sites.set(name, p);
});

after(() => stopFederation(server, sites.values(), watcher));

describe("federation", () => {
  let fedavgAccuracy = 0;

  test("FedAvg on strongly non-IID sites completes 5 rounds; its models are kept and downloadable", { timeout: 240_000 }, async () => {
    // Strongly non-IID: each site holds 90 % of its samples in 3 classes.
    const folder = job("fedavg-accuracy", (f) => {
      small(f, 5);
      const ex = (f.client as Cfg).executors?.[0]?.executor;
      if (ex) Object.assign(ex.args, { max_train_samples: 4000, dominant_fraction: 0.9 });
    });
    const sub = await admin(`submit_job ${folder}`);
    assert.equal(sub.code, 0, sub.text);
    const jobId = String(sub.json["job_id"]);
    assert.match(jobId, /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/, "UUIDv4");
    const meta = await waitStatus(jobId, (s) => s.startsWith("FINISHED:"), 200_000);
    assert.equal(meta["status"], "FINISHED:COMPLETED", JSON.stringify(meta));
    const rounds = meta["rounds"] as { round: number; metrics: { accuracy: number } }[];
    assert.equal(rounds.length, 5);
    fedavgAccuracy = rounds.at(-1)?.metrics.accuracy ?? 0;
    assert.ok(existsSync(join(kit("localhost"), "workspace", "jobs", jobId, "workspace", "models", "global_model.cohort")));
    assert.ok(existsSync(join(kit("localhost"), "workspace", "jobs", jobId, "workspace", "models", "best_model.cohort")));
    const list = await admin("list_jobs");
    assert.equal(list.code, 0);
    const status = await admin("check_status server");
    assert.deepEqual(status.json["clients"], SITES);
    const dl = await admin(`download_job ${jobId}`);
    assert.equal(dl.code, 0, dl.text);
    assert.ok(existsSync(join(String(dl.json["downloaded_to"]), "workspace", "models", "global_model.cohort")));
  });

  // The stated accuracy is on Debian's full Fashion-MNIST (4000 samples a site; the bundled subset has 2000).
  test("that FedAvg reaches the stated held-out accuracy and beats every site trained alone", { ...requireSystem("dataset"), timeout: 120_000 }, () => {
    assert.ok(fedavgAccuracy >= 0.72, `held-out accuracy ${fedavgAccuracy} ≥ 0.72`);
    // Each site alone: the same model and data share, as many epochs as the federation ran rounds.
    const data = findFashionMnist().dir;
    const train = loadIdxDataset(data, "train");
    const testSet = loadIdxDataset(data, "test");
    const parts = partitionNonIid(train.labels, 3, { dominantClasses: 3, dominantFraction: 0.9, seed: 7 });
    for (const [i, part] of parts.entries()) {
      const idx = part.slice(0, 4000);
      let params = initParams({ kind: "mlp", hidden: 64 }, 784, 10, 1);
      for (let e = 0; e < 5; e++)
        params = trainLocal(
          { kind: "mlp", hidden: 64 },
          params,
          { images: train.images, labels: train.labels, indices: idx, features: 784, classes: 10 },
          { epochs: 1, batchSize: 32, learningRate: 0.05, momentum: 0.9, seed: e },
        ).params;
      const alone = evaluate({ kind: "mlp", hidden: 64 }, params, { images: testSet.images, labels: testSet.labels, features: 784, classes: 10 }).accuracy;
      assert.ok(fedavgAccuracy > alone, `FedAvg ${fedavgAccuracy.toFixed(3)} beats site-${i + 1} alone ${alone.toFixed(3)}`);
    }
  });

  test("a job naming an unregistered component is refused", async () => {
    const folder = job("bad-component", (f) => {
      const c = (f.server as Cfg).components?.[0];
      if (c) c.path = "nvflare.app_opt.tf.model_persistor.TFModelPersistor";
    });
    const r = await admin(`submit_job ${folder}`);
    assert.notEqual(r.code, 0);
    assert.match(r.text, /ERR_JOB_UNKNOWN_COMPONENT.*TFModelPersistor.*not registered/);
  });

  test("a job whose resource_spec exceeds a site's capacity waits, then ends CAN_NOT_SCHEDULE", { timeout: 60_000 }, async () => {
    const folder = job("too-big", (f) => {
      f.meta["resource_spec"] = { "site-1": { num_of_gpus: 8 } };
      f.meta["mandatory_clients"] = ["site-1"];
    });
    const r = await admin(`submit_job ${folder}`);
    assert.equal(r.code, 0, r.text);
    const meta = await waitStatus(String(r.json["job_id"]), (s) => s.startsWith("FINISHED:"), 50_000);
    assert.equal(meta["status"], "FINISHED:CAN_NOT_SCHEDULE");
    assert.match(String(meta["status_reason"]), /needs 8 GPUs/);
  });

  test("max_jobs holds: a second job waits while the first runs; a job child cannot read the site's key", { timeout: 200_000 }, async () => {
    // The first job's executor tries the site's key, prints the outcome, then holds its task until
    // the job is aborted: the first job is RUNNING for as long as the test needs (asserted below).
    const holder = job(
      "key-thief",
      (f) => {
        small(f, 2);
        const ex = (f.client as Cfg).executors?.[0];
        if (ex) ex.executor = { path: "thief.KeyThief", args: {} } as never;
      },
      {
        "thief.js": `import { readFileSync } from "node:fs";
import { join } from "node:path";
export class KeyThief {
  async execute(taskName, payload, ctx) {
    const key = join(ctx.runDir, "..", "..", "..", "..", "startup", "client.key");
    let outcome;
    try { readFileSync(key); outcome = "READ"; } catch (e) { outcome = e.code; }
    console.log("key read attempt: " + outcome);
    await new Promise((resolve) => setTimeout(resolve, 600_000));
    throw new Error("held until aborted");
  }
}
`,
      },
    );
    const first = await admin(`submit_job ${holder}`);
    assert.equal(first.code, 0, first.text);
    const firstId = String(first.json["job_id"]);
    const second = await admin(`submit_job ${job("waiting", (f) => small(f, 2))}`);
    assert.equal(second.code, 0, second.text);
    const secondId = String(second.json["job_id"]);
    const outputs = () => [...sites.values()].map((p) => p.output).join("\n");
    await waitStatus(firstId, (s) => s === "RUNNING" || s.startsWith("FINISHED:"));
    // Precondition: the first job is running (its tasks are at the sites) before and after the check.
    for (const p of sites.values()) await p.waitFor(/key read attempt: /, 90_000);
    assert.equal((await admin(`get_job_meta ${firstId}`)).json["status"], "RUNNING", "precondition: the first job runs");
    const waiting = await admin(`get_job_meta ${secondId}`);
    assert.equal((await admin(`get_job_meta ${firstId}`)).json["status"], "RUNNING", "precondition: the first job still runs");
    assert.equal(waiting.json["status"], "SUBMITTED", "max_jobs 1: the second job waits");
    assert.match(outputs(), /key read attempt: ERR_ACCESS_DENIED/);
    assert.doesNotMatch(outputs(), /key read attempt: READ/);
    const abort = await admin(`abort_job ${firstId}`);
    assert.equal(abort.code, 0, abort.text);
    await waitStatus(firstId, (s) => s.startsWith("FINISHED:"));
    const done = await waitStatus(secondId, (s) => s.startsWith("FINISHED:"), 150_000);
    assert.equal(done["status"], "FINISHED:COMPLETED");
  });

  test("poisoned updates (NaN, wrong shape, huge norm) are rejected and the model is unharmed", { timeout: 200_000 }, async () => {
    const folder = job(
      "poisoned",
      (f) => {
        small(f, 2);
        const wf = (f.server as Cfg).workflows?.[0];
        if (wf) Object.assign(wf.args, { min_clients: 1 });
        const agg = (f.server as Cfg).components?.find((c) => c.id === "aggregator");
        if (agg) agg.args["norm_bound"] = 1000;
        const ex = (f.client as Cfg).executors?.[0];
        if (ex) ex.executor = { path: "poison.Poisoner", args: {} } as never;
      },
      {
        // site-1 is honest (sends the global model back); site-2 sends NaN in round 1 and a wrong
        // shape in round 2 (refused by site-2's own site process); site-3 sends a huge update.
        "poison.js": `export class Poisoner {
  async execute(taskName, payload, ctx) {
    const { decode, encode, FLModel } = ctx.wire;
    const m = decode(payload);
    const params = {};
    for (const [k, v] of Object.entries(m.params)) params[k] = new Float32Array(v);
    const first = Object.keys(params)[0];
    if (taskName === "train" && ctx.site === "site-2" && m.currentRound === 0) params[first][0] = NaN;
    if (taskName === "train" && ctx.site === "site-2" && m.currentRound === 1) params[first] = new Float32Array(3);
    if (taskName === "train" && ctx.site === "site-3") params[first].fill(1e6);
    return encode(new FLModel({ params: taskName === "train" ? params : {}, paramsType: "FULL", metrics: { accuracy: 0.5 }, meta: { NUM_STEPS_CURRENT_ROUND: 10, eval_samples: 1 }, currentRound: m.currentRound }));
  }
}
`,
      },
    );
    const r = await admin(`submit_job ${folder}`);
    assert.equal(r.code, 0, r.text);
    const jobId = String(r.json["job_id"]);
    const meta = await waitStatus(jobId, (s) => s.startsWith("FINISHED:"), 150_000);
    assert.equal(meta["status"], "FINISHED:COMPLETED", String(meta["status_reason"]));
    assert.match(server.output, /update from site-2 rejected: .*(NaN|finite)/i);
    // A wrong shape no longer reaches the server: site-2's own site process refuses to send it.
    assert.match(server.output, /train at site-2 failed.*parameter \S+ is Float32Array\(3\), the task's model has/);
    assert.match(server.output, /update from site-3 rejected: .*norm/i);
    // The global model is the honest one: every value finite and small.
    const { decode, FLModel } = await import("../../src/wire/index.js");
    const model = decode(readFileSync(join(kit("localhost"), "workspace", "jobs", jobId, "workspace", "models", "global_model.cohort")));
    assert.ok(model instanceof FLModel);
    for (const v of Object.values(model.params as Record<string, Float32Array>)) for (const x of v) assert.ok(Number.isFinite(x) && Math.abs(x) < 10);
  });

  test("a site killed mid-job: the rounds complete with the others", { timeout: 200_000 }, async () => {
    const folder = job("site-dies", (f) => {
      small(f, 4);
      const wf = (f.server as Cfg).workflows?.[0];
      if (wf) Object.assign(wf.args, { min_clients: 2, train_timeout: 30 });
    });
    const r = await admin(`submit_job ${folder}`);
    const jobId = String(r.json["job_id"]);
    await waitStatus(jobId, (_s, m) => ((m["rounds"] as unknown[]) ?? []).length >= 1);
    sites.get("site-3")?.kill();
    const meta = await waitStatus(jobId, (s) => s.startsWith("FINISHED:"), 150_000);
    assert.equal(meta["status"], "FINISHED:COMPLETED", String(meta["status_reason"]));
    const rounds = meta["rounds"] as { sites: string[] }[];
    assert.deepEqual(rounds.at(-1)?.sites, ["site-1", "site-2"]);
    sites.set("site-3", startParticipantProcess(kit("site-3")));
    await server.waitFor(/client site-3 .* logged in/, 30_000, server.lines.length);
  });

  test("the server killed and restarted: the job store is intact and the job resumes", { timeout: 240_000 }, async () => {
    const folder = job("survives-restart", (f) => small(f, 4));
    const r = await admin(`submit_job ${folder}`);
    const jobId = String(r.json["job_id"]);
    await waitStatus(jobId, (_s, m) => ((m["rounds"] as unknown[]) ?? []).length >= 1);
    server.kill();
    await server.exited;
    server = startParticipantProcess(kit("localhost"), { server: true });
    await server.waitFor(/listening on/);
    const meta = await waitStatus(jobId, (s) => s.startsWith("FINISHED:"), 200_000);
    assert.equal(meta["status"], "FINISHED:COMPLETED", String(meta["status_reason"]));
    assert.equal(meta["resumed_count"], 1);
    assert.match(server.output, /resum/);
    const list = (await admin("list_jobs")).json as unknown as { job_id: string; status: string }[];
    assert.ok(
      list.some((j) => j.job_id === jobId),
      "the job is in the store after the restart",
    );
    assert.ok(
      list.every((j) => j.status.startsWith("FINISHED:")),
      "no job left half-run",
    );
  });

  test("the run's audit trails verify, witness each other, reveal tampering, and trace a task across sites", { timeout: 120_000 }, async () => {
    // A clean stop: every participant sends its final checkpoint.
    await watcher.close();
    for (const p of sites.values()) assert.equal(await p.stop(), 0);
    assert.equal(await server.stop(), 0);
    const log = (n: string): string => join(kit(n), "audit.log");
    const root = join(kit("localhost"), "startup", "rootCA.pem");
    for (const s of ["site-1", "site-2"]) {
      const r = await runCli(["audit", "verify", log(s), "--witness", log("localhost"), "--root", root]);
      assert.equal(r.code, 0, r.stdout + r.stderr);
      assert.match(r.stdout, /chain intact; \d+ checkpoint\(s\) witnessed/);
    }
    const srv = await runCli(["audit", "verify", log("localhost"), "--witness", log("site-1"), "--root", root]);
    assert.equal(srv.code, 0, srv.stdout + srv.stderr);

    // Tampered copies of site-1's log: edit, delete, insert, and a tail cut behind the server's witness.
    const lines = readFileSync(log("site-1"), "utf8").trim().split("\n");
    const variants: [string, string[]][] = [
      ["edit", lines.map((l, i) => (i === 3 ? l.replace(/"outcome":"ok"/, '"outcome":"denied"').replace(/"outcome":"denied"/, '"outcome":"error"') : l))],
      ["delete", lines.filter((_, i) => i !== 4)],
      ["insert", [...lines.slice(0, 5), lines[2] ?? "", ...lines.slice(5)]],
    ];
    for (const [what, v] of variants) {
      const f = writeFile(join(dir, `tampered-${what}.log`), `${v.join("\n")}\n`);
      const r = await runCli(["audit", "verify", f]);
      assert.equal(r.code, 1, `${what}: ${r.stdout}`);
      assert.match(r.stdout + r.stderr, /NOT intact: .*:(4|5|6):/, what);
    }
    // Cut behind the last line of site-1 the server witnessed (a tail written after it is, by design, not witnessed yet).
    const witnessedSeqs = readFileSync(log("localhost"), "utf8")
      .trim()
      .split("\n")
      .map((l) => JSON.parse(l) as Record<string, unknown>)
      .filter((l) => l["action"] === "audit.checkpoint" && l["outcome"] === "ok" && l["peer"] === "site-1")
      .map((l) => Number((JSON.parse(String(l["reason"])) as { seq: number }).seq));
    assert.ok(witnessedSeqs.length > 0, "the server witnessed site-1's log");
    const keep = Math.min(lines.length - 6, Math.max(...witnessedSeqs) - 1);
    const cut = writeFile(join(dir, "site-1-cut", "audit.log"), `${lines.slice(0, keep).join("\n")}\n`);
    assert.equal((await runCli(["audit", "verify", cut])).code, 0, "a cut tail alone still chains");
    const witnessed = await runCli(["audit", "verify", cut, "--witness", log("localhost"), "--site", "site-1"]);
    assert.equal(witnessed.code, 1, witnessed.stdout);
    assert.match(witnessed.stdout + witnessed.stderr, /witnessed/);

    // One task from sent to result, across the server's and the sites' logs.
    const sent = readFileSync(log("localhost"), "utf8")
      .split("\n")
      .find((l) => l.includes('"action":"task.sent"') && l.includes('"peer":"site-1"'));
    assert.ok(sent);
    const id = (JSON.parse(sent) as { id: string }).id;
    const trace = await runCli(["audit", "trace", id, kit("localhost"), kit("site-1"), kit("site-2"), kit("site-3"), "--json"]);
    assert.equal(trace.code, 0, trace.stderr);
    const steps = (JSON.parse(trace.stdout) as { action: string; site: string }[]).map((s) => `${s.site}:${s.action}`);
    for (const step of ["localhost:task.sent", "site-1:task.received", "site-1:task.executed", "site-1:task.result_returned", "localhost:task.result_received"])
      assert.ok(steps.includes(step), `${step} in ${steps.join(", ")}`);
  });
});
