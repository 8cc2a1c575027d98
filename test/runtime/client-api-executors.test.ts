/**
 * The Client API executors on their own, with real training processes: the external-process
 * executor (Python via cohort_flare) and the in-process TypeScript one. Bad behaviour of the
 * training code fails only that task, with a reason; the next task starts it again; an abort
 * leaves no process behind.
 */
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { decode, encode, FLModel } from "../../src/wire/index.js";
import { ExternalProcessExecutor, externalProcessArgs } from "../../src/runtime/components/external-process-executor.js";
import { ClientApiExecutor, clientApiExecutorArgs } from "../../src/runtime/components/client-api-executor.js";
import type { ClientJobContext } from "../../src/runtime/components/registry.js";
import { tempDir, writeFile } from "../helpers/index.js";
import { testSiteContext } from "../helpers/job-contexts.js";
import { requireSystem } from "../helpers/requirements.js";

const needsPython = requireSystem("python3");

const SCRIPT = `import os, subprocess, sys, time
import numpy as np
import cohort_flare as flare

flare.init()
cfg = flare.get_config()
mode = cfg.get("mode", "echo")
if cfg.get("pid_file"):
    with open(cfg["pid_file"], "w") as f:
        f.write(str(os.getpid()))
while flare.is_running():
    m = flare.receive()
    r = m.current_round or 0
    if flare.is_train():
        if mode == "crash" and r == 0:
            print("about to crash on purpose", file=sys.stderr, flush=True)
            sys.exit(3)
        if mode == "garbage" and r == 0:
            os.write(int(os.environ["COHORT_CLIENT_API_FD"]), b"\\x05\\x00\\x00\\x00hello")
            time.sleep(30)
        if mode == "hang":
            time.sleep(600)
        if mode == "helper":
            p = subprocess.Popen(["sleep", "300"])
            with open(cfg["helper_pid_file"], "w") as f:
                f.write(str(p.pid))
            time.sleep(600)
        if mode == "shape":
            flare.send(flare.FLModel(params={"w": np.zeros(2)}))
            continue
        if mode == "error" and r == 0:
            raise SystemExit("no data for this round")
        flare.log("accuracy", 0.5 + r)
        flare.log("note", "a string is logged, not a metric")
        flare.send(flare.FLModel(params={k: v.astype(np.float64) * 2 for k, v in m.params.items()}, params_type="FULL", meta={"env": sorted(os.environ), "cwd": os.getcwd()}))
    else:
        flare.send(flare.FLModel(metrics={"accuracy": 0.9}, meta={"eval_samples": 1}))
`;

const TS_MODULE = `export async function main(flare) {
  flare.init();
  while (flare.isRunning()) {
    const m = await flare.receive();
    if (!m) break;
    const cfg = flare.getConfig();
    if (flare.isTrain()) {
      if (cfg.mode === "throw" && m.currentRound === 0) throw new Error("boom in training");
      if (cfg.mode === "hang") await new Promise((r) => setTimeout(r, 4000).unref());
      const params = {};
      for (const [k, v] of Object.entries(m.params)) params[k] = v.map((x) => x + 1);
      flare.log("accuracy", 0.25 + m.currentRound);
      flare.send({ params, paramsType: "FULL", meta: { site: flare.getSiteName(), job: flare.getJobId(), kind: flare.getTaskKind() } });
    } else {
      flare.send(new flare.FLModel({ metrics: { accuracy: 0.75 }, meta: {} }));
    }
  }
}
`;

/** A deployed job's layout (<job>/app beside <job>/workspace) with custom code, and a context. */
function site(): { ctx: ClientJobContext; abort: AbortController; dir: string; logs: string[] } {
  const dir = tempDir("cohort-client-api-");
  const job = join(dir, "jobs", "0b6c2c55-5a4f-4a43-8f8e-1f2d3c4b5a69");
  writeFile(join(job, "app", "meta.json"), JSON.stringify({ name: "t", deploy_map: { app: ["@ALL"] } }));
  writeFile(join(job, "app", "app", "config", "config_fed_server.json"), JSON.stringify({ workflows: [{ path: "cohort.ScatterAndGather" }] }));
  writeFile(
    join(job, "app", "app", "config", "config_fed_client.json"),
    JSON.stringify({ executors: [{ tasks: ["*"], executor: { path: "cohort.ExternalProcessExecutor" } }] }),
  );
  writeFile(join(job, "app", "app", "custom", "train.py"), SCRIPT);
  writeFile(join(job, "app", "app", "custom", "train.mjs"), TS_MODULE);
  const abort = new AbortController();
  const logs: string[] = [];
  const ctx = testSiteContext({
    jobName: "t",
    runDir: join(job, "workspace"),
    signal: abort.signal,
    log: (l) => logs.push(l),
    warn: (l) => logs.push(`WARN ${l}`),
  });
  return { ctx, abort, dir, logs };
}

const trainTask = (round: number): Uint8Array =>
  encode(
    new FLModel({ params: { w: new Float32Array([1, 2, 3]), b: new Float32Array([0.5]) }, paramsType: "FULL", currentRound: round, totalRounds: 3, meta: {} }),
  );
const evalTask = (): Uint8Array =>
  encode(new FLModel({ params: { w: new Float32Array([1, 2, 3]), b: new Float32Array([0.5]) }, paramsType: "FULL", meta: {} }));

/** Alive and not a zombie. */
function alive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    return !/^\d+ \(.*\) Z/.test(stat);
  } catch {
    return false;
  }
}

async function until(cond: () => boolean, ms: number): Promise<boolean> {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (cond()) return true;
    await new Promise((r) => setTimeout(r, 50));
  }
  return cond();
}

const py = (s: ReturnType<typeof site>, args: Record<string, unknown>): ExternalProcessExecutor =>
  new ExternalProcessExecutor(externalProcessArgs.parse(args), s.ctx);

describe("ExternalProcessExecutor (Python through cohort_flare)", needsPython, () => {
  test("trains: results conformed to the task's arrays, logged metrics joined, minimal environment, submit_model answered", { timeout: 30_000 }, async () => {
    const s = site();
    const ex = py(s, { task_timeout: 20 });
    try {
      const r = decode(await ex.execute("train", trainTask(0), s.ctx));
      assert.ok(r instanceof FLModel);
      const w = r.params["w"];
      assert.ok(w instanceof Float32Array, "float64 from numpy is brought back to the task's Float32Array");
      assert.deepEqual([...w], [2, 4, 6]);
      assert.deepEqual(r.metrics, { accuracy: 0.5 });
      assert.equal(r.currentRound, 0);
      assert.deepEqual(
        r.meta["env"],
        ["COHORT_CLIENT_API_FD", "COHORT_PARAMS_EXCHANGE_FORMAT", "LANG", "PATH", "PYTHONDONTWRITEBYTECODE", "PYTHONPATH", "PYTHONUNBUFFERED"],
        "no kit paths, keys or tokens",
      );
      assert.match(String(r.meta["cwd"]), /app[/\\]app[/\\]custom$/);
      const firstPid = ex.pid;
      const r2 = decode(await ex.execute("train", trainTask(1), s.ctx)) as FLModel;
      assert.equal(ex.pid, firstPid, "launch_once: one process for the job");
      assert.deepEqual(r2.metrics, { accuracy: 1.5 });
      const v = decode(await ex.execute("validate", evalTask(), s.ctx)) as FLModel;
      assert.deepEqual(v.metrics, { accuracy: 0.9 });
      const sub = decode(await ex.execute("submit_model", encode(new FLModel({})), s.ctx)) as FLModel;
      assert.deepEqual([...(sub.params["w"] as Float32Array)], [2, 4, 6]);
      assert.ok(s.logs.some((l) => /train\.py metric accuracy=0\.5/.test(l)));
      assert.ok(s.logs.some((l) => /metric note=a string/.test(l)));
    } finally {
      s.abort.abort("test over");
    }
  });

  test("a script that crashes fails its task with the exit code and its stderr; the next task starts it again", { timeout: 30_000 }, async () => {
    const s = site();
    const ex = py(s, { task_timeout: 20, config: { mode: "crash" } });
    try {
      await assert.rejects(ex.execute("train", trainTask(0), s.ctx), (e: Error & { code?: string }) => {
        assert.equal(e.code, "ERR_CLIENT_API_EXITED");
        assert.match(e.message, /train\.py exited with code 3 before answering its task.*about to crash on purpose.*site-2, task train \(round 1\)/);
        return true;
      });
      const r = decode(await ex.execute("train", trainTask(1), s.ctx)) as FLModel;
      assert.deepEqual([...(r.params["w"] as Float32Array)], [2, 4, 6]);
    } finally {
      s.abort.abort("test over");
    }
  });

  test("garbage on the channel fails the task and stops the process; the next task works", { timeout: 30_000 }, async () => {
    const s = site();
    const ex = py(s, { task_timeout: 20, config: { mode: "garbage" } });
    try {
      await assert.rejects(ex.execute("train", trainTask(0), s.ctx), /ERR_CLIENT_API_PROTOCOL|not a Cohort wire message/);
      const pid = ex.pid ?? 0;
      assert.ok(await until(() => !alive(pid), 5000), "the desynchronised process is gone");
      const r = decode(await ex.execute("train", trainTask(1), s.ctx)) as FLModel;
      assert.equal(r.currentRound, 1);
    } finally {
      s.abort.abort("test over");
    }
  });

  test("a wrong parameter shape and a script error fail only that task, with the reason", { timeout: 30_000 }, async () => {
    const s = site();
    const shape = py(s, { task_timeout: 20, config: { mode: "shape" } });
    const s2 = site();
    const err = py(s2, { task_timeout: 20, config: { mode: "error" } });
    try {
      await assert.rejects(shape.execute("train", trainTask(0), s.ctx), (e: Error & { code?: string }) => {
        assert.equal(e.code, "ERR_CLIENT_API_SHAPE");
        assert.match(e.message, /parameter "w" has 2 values, the task's model has 3 values/);
        return true;
      });
      assert.ok(shape.pid !== undefined && alive(shape.pid), "a bad result does not end the process");
      await assert.rejects(err.execute("train", trainTask(0), s2.ctx), /exited with code 1.*no data for this round/);
    } finally {
      s.abort.abort("test over");
      s2.abort.abort("test over");
    }
  });

  test("a script that never answers times out, is killed, and the next task gets a new one", { timeout: 30_000 }, async () => {
    const s = site();
    const ex = py(s, { task_timeout: 1.5, config: { mode: "hang" } });
    try {
      // The refusal names the timeout that fired; how fast is not asserted (a loaded machine).
      await assert.rejects(ex.execute("train", trainTask(0), s.ctx), (e: Error & { code?: string }) => {
        assert.equal(e.code, "ERR_CLIENT_API_TIMEOUT");
        assert.match(e.message, /did not answer task train within 2 s/);
        return true;
      });
      const pid = ex.pid ?? 0;
      assert.ok(await until(() => !alive(pid), 5000), `pid ${pid} is gone after the timeout`);
    } finally {
      s.abort.abort("test over");
    }
  });

  test("aborting the job stops the script and what it started (no orphans)", { timeout: 30_000 }, async () => {
    const s = site();
    const pidFile = join(s.dir, "script.pid");
    const helperFile = join(s.dir, "helper.pid");
    const ex = py(s, { stop_grace: 1, config: { mode: "helper", pid_file: pidFile, helper_pid_file: helperFile } });
    const running = ex.execute("train", trainTask(0), s.ctx);
    assert.ok(await until(() => existsSync(helperFile) && readFileSync(helperFile, "utf8").length > 0, 10_000), "the script started its helper");
    const pid = Number(readFileSync(pidFile, "utf8"));
    const helper = Number(readFileSync(helperFile, "utf8"));
    assert.ok(alive(pid) && alive(helper));
    s.abort.abort("aborted by admin");
    await assert.rejects(running, /ERR_CLIENT_API_STOPPED|stopped: aborted by admin/);
    assert.ok(await until(() => !alive(pid) && !alive(helper), 5000), `script ${pid} and helper ${helper} are gone`);
    await assert.rejects(ex.execute("train", trainTask(1), s.ctx), /the job is stopping/);
  });

  test("a command that does not exist fails the task with a clear reason", { timeout: 10_000 }, async () => {
    const s = site();
    const ex = py(s, { command: ["/nonexistent/interpreter", "train.py"] });
    await assert.rejects(ex.execute("train", trainTask(0), s.ctx), /could not be started.*ENOENT.*check the command/);
    s.abort.abort("test over");
  });

  test("COHORT_* variables cannot be set through env", () => {
    assert.throws(() => externalProcessArgs.parse({ env: { COHORT_JOB_TOKEN: "x" } }), /COHORT_/);
  });
});

describe("ClientApiExecutor (TypeScript in process)", () => {
  const ts = (s: ReturnType<typeof site>, args: Record<string, unknown>): ClientApiExecutor =>
    new ClientApiExecutor(clientApiExecutorArgs.parse({ module: "train.mjs", ...args }), s.ctx);

  test("runs the module's training loop: receive, send, log, site and job names", { timeout: 10_000 }, async () => {
    const s = site();
    const ex = ts(s, {});
    try {
      const r = decode(await ex.execute("train", trainTask(0), s.ctx)) as FLModel;
      assert.deepEqual([...(r.params["w"] as Float32Array)], [2, 3, 4]);
      assert.deepEqual(r.metrics, { accuracy: 0.25 });
      // Logged values travel with the result, with their steps (the server stores them in metrics.jsonl).
      assert.deepEqual(r.meta, { site: "site-2", job: s.ctx.jobId, kind: "train", "cohort.logged": [["accuracy", 0.25, null]] });
      const v = decode(await ex.execute("validate", evalTask(), s.ctx)) as FLModel;
      assert.deepEqual(v.metrics, { accuracy: 0.75 });
      const sub = decode(await ex.execute("submit_model", encode(new FLModel({})), s.ctx)) as FLModel;
      assert.deepEqual([...(sub.params["b"] as Float32Array)], [1.5]);
    } finally {
      s.abort.abort("over");
    }
  });

  test("a function that throws fails its task with the message; the next task runs it again", { timeout: 10_000 }, async () => {
    const s = site();
    const ex = ts(s, { config: { mode: "throw" } });
    try {
      await assert.rejects(ex.execute("train", trainTask(0), s.ctx), /ERR_CLIENT_API_SCRIPT_ERROR|threw: boom in training/);
      const r = decode(await ex.execute("train", trainTask(1), s.ctx)) as FLModel;
      assert.deepEqual(r.metrics, { accuracy: 1.25 });
    } finally {
      s.abort.abort("over");
    }
  });

  test("a function that does not answer in time fails the task", { timeout: 10_000 }, async () => {
    const s = site();
    const ex = ts(s, { config: { mode: "hang" }, task_timeout: 0.5 });
    await assert.rejects(ex.execute("train", trainTask(0), s.ctx), /ERR_CLIENT_API_TIMEOUT|no answer within 0.5 s/);
    s.abort.abort("over");
  });

  test("a missing module or export is explained", { timeout: 10_000 }, async () => {
    const s = site();
    await assert.rejects(ts(s, { module: "nope" }).execute("train", trainTask(0), s.ctx), /module "nope" not found in .*custom/);
    await assert.rejects(ts(s, { export: "train" }).execute("train", trainTask(0), s.ctx), /does not export a function "train" \(exports: main\)/);
    assert.throws(() => clientApiExecutorArgs.parse({ module: "../outside.js" }), /inside custom/);
  });

  test("custom code cannot import Cohort (docs/client-api.md): a module importing `cohort` fails its task; `flare` and ctx.wire are the way in", {
    timeout: 10_000,
  }, async () => {
    const s = site();
    const custom = join(s.dir, "jobs", s.ctx.jobId, "app", "app", "custom");
    for (const specifier of ["cohort", "cohort/wire", "@cohort-fl/cohort", "@cohort-fl/cohort/wire"]) {
      const file = `imports-${specifier.replace(/[@/]/g, "-")}.mjs`;
      writeFile(join(custom, file), `import * as c from ${JSON.stringify(specifier)};\nexport async function main() { return c; }\n`);
      await assert.rejects(ts(s, { module: file }).execute("train", trainTask(0), s.ctx), (err: Error) => {
        assert.match(err.message, /imports "(cohort|@cohort-fl\/cohort)", which job code cannot load: use the `flare` argument of main\(\) and ctx.wire/);
        return true;
      });
    }
    // The same job's module without the import trains (the refusal is the import).
    const r = decode(await ts(s, {}).execute("train", trainTask(0), s.ctx)) as FLModel;
    assert.ok(r.params["w"]);
    s.abort.abort("over");
  });
});
