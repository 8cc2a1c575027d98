/**
 * `cohort simulator`: the demo job in one process reaches the accuracy of the real federation;
 * unregistered components are refused; `-l` local resources decide where a job may run.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { closeSync, cpSync, existsSync, openSync, readdirSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { runSimulation, SIMULATOR_MARK } from "../../src/runtime/simulator/index.js";
import { REPO_ROOT, editJsonFile, type EditableJson, runCli, tempDir, writeFile } from "../helpers/index.js";
import { decode, FLModel } from "../../src/wire/index.js";
import { isPackedLayer } from "../../src/privacy/he-frame.js";
import { noOpJob } from "../helpers/noop-job.js";

const DEMO_JOB = join(REPO_ROOT, "examples", "jobs", "hello-fedavg");

test("the demo job completes in the simulator with the real federation's accuracy; the model, log and summary land in the workspace", {
  timeout: 120_000,
}, async () => {
  const ws = join(tempDir("cohort-sim-"), "ws");
  const r = await runCli(["simulator", DEMO_JOB, "-n", "3", "-w", ws, "--json"], {}, { timeoutMs: 110_000 });
  assert.equal(r.code, 0, r.stdout + r.stderr);
  const result = JSON.parse(r.stdout) as {
    status: string;
    sites: string[];
    rounds: { round: number; metrics: { accuracy: number } }[];
    modelsDir: string;
    logFile: string;
  };
  assert.equal(result.status, "FINISHED:COMPLETED");
  assert.deepEqual(result.sites, ["site-1", "site-2", "site-3"]);
  assert.deepEqual(
    result.rounds.map((x) => x.round),
    [1, 2, 3, 4, 5],
  );
  const accuracy = result.rounds.at(-1)?.metrics.accuracy ?? 0;
  // The real demo (3 processes over mTLS) ends at ~0.81; federation.test.ts holds it to ≥ 0.72.
  assert.ok(accuracy >= 0.72 && accuracy <= 0.9, `held-out accuracy ${accuracy} in the demo's band`);
  assert.equal(result.modelsDir, join(ws, "server", "simulate_job", "models"));
  for (const f of ["global_model.cohort", "best_model.cohort", "final_metrics.json"]) assert.ok(existsSync(join(result.modelsDir, f)), f);
  const log = readFileSync(join(ws, "log.txt"), "utf8");
  assert.match(log, /\[site-2\] round 1: global accuracy here/);
  assert.match(log, /\[server\] round 5\/5 aggregated from site-1, site-2, site-3/);
  assert.ok(existsSync(join(ws, "simulation.json")) && existsSync(join(ws, SIMULATOR_MARK)));
});

/** noOpJob whose executor is `<module>.Trainer` from the job's custom/ code (a NoOpTrainer that runs `first` at each task). */
function customTrainerJob(dir: string, module: string, first = ""): string {
  const job = noOpJob(dir, (f) => {
    (f.client as { executors: { executor: { path: string } }[] }).executors[0]!.executor.path = `${module}.Trainer`;
  });
  writeFile(
    join(job, "app", "custom", `${module}.js`),
    `export class Trainer { async execute(task, payload, ctx) { ${first} const m = ctx.wire.decode(payload); return ctx.wire.encode(new ctx.wire.FLModel({ params: task === 'train' ? m.params : {}, paramsType: 'FULL', metrics: { accuracy: 1 }, meta: { NUM_STEPS_CURRENT_ROUND: 1, eval_samples: 1 } })); } }\n`,
  );
  return job;
}

test("a component path that is not registered is refused, as at submission, and nothing is written", { timeout: 60_000 }, async () => {
  const dir = tempDir("cohort-sim-");
  const job = noOpJob(join(dir, "job"), (f) => {
    (f.client as { executors: { executor: { path: string } }[] }).executors[0]!.executor.path = "evil.RemoteShell";
  });
  const ws = join(dir, "ws");
  const r = await runCli(["simulator", job, "-c", "site-a,site-b", "-w", ws]);
  assert.notEqual(r.code, 0);
  assert.match(r.stderr, /ERR_JOB_UNKNOWN_COMPONENT/);
  assert.match(r.stderr, /evil\.RemoteShell/);
  assert.equal(existsSync(ws), false);
});

test("-l: a site's local resources.json decides whether the job's resource_spec fits; bad local files are refused by name", async () => {
  const dir = tempDir("cohort-sim-");
  const job = noOpJob(join(dir, "job"), (f) => {
    f.meta["resource_spec"] = { "site-2": { num_of_gpus: 1, mem_per_gpu_in_GiB: 8 } };
  });
  const sites = ["site-1", "site-2"];

  const without = await runSimulation({ jobDir: job, sites, workspace: join(dir, "ws1") });
  assert.equal(without.status, "FINISHED:CAN_NOT_SCHEDULE");
  assert.match(without.reason ?? "", /site-2: needs 1 GPUs, the site has 0/);

  const local = join(dir, "local");
  const resources = writeFile(
    join(local, "site-2", "local", "resources.json"),
    JSON.stringify({
      components: [
        {
          id: "resource_manager",
          path: "nvflare.app_common.resource_managers.gpu_resource_manager.GPUResourceManager",
          args: { num_of_gpus: 1, mem_per_gpu_in_GiB: 16 },
        },
      ],
      job_data_paths: [dir],
    }),
  );
  writeFile(join(local, "site-1", "local", "privacy.json"), JSON.stringify({ scopes: [{ name: "public" }], default_scope: "public" }));
  const lines: string[] = [];
  const withLocal = await runSimulation({
    jobDir: job,
    sites,
    workspace: join(dir, "ws2"),
    localConfigDir: local,
    onLog: (who, level, line) => lines.push(`${who} ${level} ${line}`),
  });
  assert.equal(withLocal.status, "FINISHED:COMPLETED", withLocal.reason);
  assert.deepEqual(withLocal.sites, sites);
  assert.ok(
    lines.some((l) => l.startsWith(`site-2 info local config: ${resources} (GPUs 1`)),
    lines.join("\n"),
  );
  assert.ok(
    lines.some((l) => l.startsWith("site-1 info") && l.includes("privacy.json") && l.includes("applied as at a deployed site")),
    lines.join("\n"),
  );

  writeFile(join(local, "site-2", "local", "resources.json"), JSON.stringify({ job_data_paths: [join(dir, "no-such-folder")] }));
  await assert.rejects(runSimulation({ jobDir: job, sites, workspace: join(dir, "ws3"), localConfigDir: local }), (err: Error & { code?: string }) => {
    assert.equal(err.code, "ERR_CONFIG_INVALID");
    assert.match(err.message, /resources\.json: job_data_paths: ".*no-such-folder" is not a folder/);
    return true;
  });
});

test("the simulator never empties a folder it did not make; it does empty its own on the next run", async () => {
  const dir = tempDir("cohort-sim-");
  const job = noOpJob(join(dir, "job"));
  const foreign = join(dir, "mine");
  writeFile(join(foreign, "thesis.tex"), "do not delete");
  await assert.rejects(runSimulation({ jobDir: job, sites: ["a", "b"], workspace: foreign }), /not empty and not a simulator workspace/);
  assert.ok(existsSync(join(foreign, "thesis.tex")));

  const ws = join(dir, "ws");
  const first = await runSimulation({ jobDir: job, sites: ["a", "b"], workspace: ws });
  assert.equal(first.status, "FINISHED:COMPLETED");
  writeFile(join(ws, "leftover.txt"), "from an earlier run");
  const second = await runSimulation({ jobDir: job, sites: ["a", "b"], workspace: ws });
  assert.equal(second.status, "FINISHED:COMPLETED");
  assert.equal(existsSync(join(ws, "leftover.txt")), false);
});

test("a site whose executor fails is dropped from the round as in a deployment; too few results end the job EXECUTION_EXCEPTION", async () => {
  const dir = tempDir("cohort-sim-");
  const job = noOpJob(join(dir, "job"), (f) => {
    (f.client as { executors: { tasks: string[] }[] }).executors[0]!.tasks = ["validate"];
  });
  const r = await runSimulation({ jobDir: job, sites: ["a", "b"], workspace: join(dir, "ws") });
  assert.equal(r.status, "FINISHED:EXECUTION_EXCEPTION");
  assert.match(r.reason ?? "", /no update was accepted/);
  assert.match(readFileSync(r.logFile, "utf8"), /train at a failed, dropped from this round: a: no executor for task train/);
});

test("a job's own code (custom/) is loaded as in a job child", async () => {
  const dir = tempDir("cohort-sim-");
  const job = customTrainerJob(join(dir, "job"), "noop_ext");
  const r = await runSimulation({ jobDir: job, sites: ["a", "b"], workspace: join(dir, "ws") });
  assert.equal(r.status, "FINISHED:COMPLETED", r.reason);
  assert.equal(r.rounds.at(-1)?.metrics["accuracy"], 1);
});

test("hello-he: a throwaway CKKS key pair for the sites only; the server's model is ciphertext; the accuracy is the plaintext run's", {
  timeout: 120_000,
}, async () => {
  const dir = tempDir("cohort-sim-he-");
  // Both examples shortened the same way (2 rounds, 1500 samples per site).
  const shortened = (example: string): string => {
    const dst = join(dir, example);
    cpSync(join(REPO_ROOT, "examples", "jobs", example), dst, { recursive: true });
    const edit = (file: string, f: (j: EditableJson) => void): void => editJsonFile(join(dst, "app", "config", file), f);
    edit("config_fed_server.json", (j) => Object.assign(j["workflows"][0]["args"], { num_rounds: 2, wait_time_after_min_received: 1 }));
    edit("config_fed_client.json", (j) => Object.assign(j["executors"][0]["executor"]["args"], { max_train_samples: 1500 }));
    return dst;
  };
  const sites = ["site-1", "site-2"];
  const he = await runSimulation({ jobDir: shortened("hello-he"), sites, workspace: join(dir, "ws-he") });
  assert.equal(he.status, "FINISHED:COMPLETED", he.reason);
  assert.equal(statSync(join(dir, "ws-he", "he", "client_context.ckks")).mode & 0o777, 0o600);
  assert.equal((JSON.parse(readFileSync(join(dir, "ws-he", "he", "server_context.ckks"), "utf8")) as { secret_key?: string }).secret_key, undefined);
  const model = decode(readFileSync(join(he.modelsDir, "global_model.cohort")));
  assert.ok(model instanceof FLModel && Object.values(model.params).every((v) => isPackedLayer(v)), "the server's global model is ciphertext only");
  assert.match(readFileSync(he.logFile, "utf8"), /HE: a throwaway CKKS key pair .* the server none/);
  const plain = await runSimulation({ jobDir: shortened("hello-fedavg"), sites, workspace: join(dir, "ws-plain") });
  assert.equal(plain.status, "FINISHED:COMPLETED", plain.reason);
  assert.equal(existsSync(join(dir, "ws-plain", "he")), false, "no keys for a job without HE components");
  const acc = (r: typeof he): number => r.rounds.at(-1)?.metrics["accuracy"] ?? 0;
  assert.ok(Math.abs(acc(he) - acc(plain)) <= 0.01, `HE ${acc(he)} vs plaintext ${acc(plain)}`);
});

test("without -w the workspace is ~/.cohort/simulator/<job name> of the user running it, never inside the repository", { timeout: 60_000 }, async () => {
  const dir = tempDir("cohort-sim-home-");
  const home = join(dir, "home");
  const job = noOpJob(join(dir, "job"));
  const before = readdirSync(REPO_ROOT).sort();
  const r = await runCli(["simulator", job, "-c", "site-a,site-b", "--json"], { HOME: home });
  assert.equal(r.code, 0, r.stderr);
  const ws = join(home, ".cohort", "simulator", "noop");
  assert.equal((JSON.parse(r.stdout) as { workspace: string }).workspace, ws);
  assert.ok(existsSync(join(ws, SIMULATOR_MARK)), "the workspace is marked as the simulator's");
  assert.deepEqual(readdirSync(REPO_ROOT).sort(), before, "nothing new in the repository");
});

test("the job's metrics reach the server and are stored with the job: metrics.jsonl has an entry per site and round", async () => {
  const dir = tempDir("cohort-sim-");
  const job = noOpJob(join(dir, "job"));
  const ws = join(dir, "ws");
  const r = await runSimulation({ jobDir: job, sites: ["a", "b"], workspace: ws });
  assert.equal(r.status, "FINISHED:COMPLETED");
  const entries = readFileSync(join(ws, "server", "simulate_job", "metrics.jsonl"), "utf8")
    .trim()
    .split("\n")
    .map((l) => JSON.parse(l) as { site: string; task: string; round: number; key: string; value: number; source: string });
  const train = entries.filter((e) => e.task === "train" && e.key === "accuracy");
  assert.deepEqual(train.map((e) => `${e.site}:${e.round}`).sort(), ["a:0", "a:1", "b:0", "b:1"]);
  assert.ok(train.every((e) => e.value === 0 && e.source === "result"));
  assert.ok(
    entries.some((e) => e.task === "validate"),
    "the final evaluation too",
  );
});

test("job code still logging after the run ended goes to log.txt by path, never into a descriptor the process reuses", async () => {
  const dir = tempDir("cohort-sim-");
  // An executor that keeps logging for a while after the job ends (a script draining its output does the same).
  const job = customTrainerJob(
    join(dir, "job"),
    "chatty",
    "if (!this.t) { let n = 0; this.t = setInterval(() => { ctx.log('late line ' + n++); if (n > 60) clearInterval(this.t); }, 10); this.t.unref(); }",
  );
  const r = await runSimulation({ jobDir: job, sites: ["a", "b"], workspace: join(dir, "ws") });
  assert.equal(r.status, "FINISHED:COMPLETED", r.reason);
  // The log's descriptor number is free now: take it (and the next ones) with files of our own.
  const others = Array.from({ length: 4 }, (_, i) => join(dir, `other-${i}`));
  const fds = others.map((f) => openSync(f, "w"));
  await new Promise((res) => setTimeout(res, 300));
  for (const fd of fds) closeSync(fd);
  for (const f of others) assert.equal(readFileSync(f, "utf8"), "", `${f} received nothing`);
  assert.match(readFileSync(r.logFile, "utf8"), /late line \d+/);
});
