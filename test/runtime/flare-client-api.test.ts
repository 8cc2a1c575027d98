/**
 * FLARE Client API scripts unchanged (docs/client-api.md, "FLARE scripts unchanged"): FLARE's own
 * hello-numpy and hello-numpy-cross-val client.py (read from ../shared/data/flare, never copied
 * into the project) run under each FLARE executor class path, in the job folder FLARE's
 * job.export() writes (test/fixtures/flare-export/hello-numpy), through the `nvflare` shim.
 * Executor-level: the server side of that job (FedAvg, NPModelPersistor) is not exercised here.
 * Skipped, with the reason printed, where /usr/bin/python3 lacks numpy or msgpack or FLARE's files
 * are absent.
 */
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { chmodSync, copyFileSync, cpSync, existsSync, mkdirSync } from "node:fs";
import { join } from "node:path";
import { decode, encode, FLModel, Tensor } from "../../src/wire/index.js";
import "../../src/runtime/components/builtins.js";
import { componentFor, type ClientJobContext, type Executor } from "../../src/runtime/components/registry.js";
import {
  FLARE_CLIENT_API_EXECUTOR,
  FLARE_IN_PROCESS_EXECUTOR,
  FLARE_LAUNCHER_EXECUTOR,
  FLARE_SUBPROCESS_LAUNCHER,
  splitCommand,
} from "../../src/runtime/components/flare-client-executors.js";
import { loadJobFolder } from "../../src/runtime/jobs/definition.js";
import { LOGGED_META_KEY } from "../../src/runtime/components/metrics-log.js";
import { ExternalProcessExecutor, MAX_LOGGED_BYTES } from "../../src/runtime/components/external-process-executor.js";
import { documentedNumber } from "../helpers/doc-limits.js";
import { REPO_ROOT, tempDir, writeFile } from "../helpers/index.js";
import { testSiteContext } from "../helpers/job-contexts.js";
import { PYTHON, requireSystem } from "../helpers/requirements.js";
import { flareFile, requireFlareData } from "../helpers/flare-data.js";

const HELLO_NUMPY = flareFile("examples", "hello-world", "hello-numpy", "client.py");
const CROSS_VAL = flareFile("examples", "hello-world", "hello-numpy-cross-val", "client.py");
const FIXTURE = join(REPO_ROOT, "test", "fixtures", "flare-export", "hello-numpy");
const SHIM_INIT = join(REPO_ROOT, "python", "flare_shim", "nvflare", "__init__.py");

const python = requireSystem("python3");
const flareData = requireFlareData();
const flareFiles = flareData.skip || (existsSync(HELLO_NUMPY) && existsSync(CROSS_VAL) ? undefined : `FLARE's example scripts are not in ${flareFile()}`);
const needs = { skip: python.skip || flareFiles || false };
if (needs.skip) console.log(`# flare-client-api: skipped: ${needs.skip}`);

const JOB_ID = "5d2a9c1e-7b3f-4e8a-9c0d-1f2e3a4b5c6d";

/** FLARE's exported hello-numpy job deployed at a site (<job>/app beside <job>/workspace), FLARE's client.py in custom/. */
function site(script = HELLO_NUMPY): { ctx: ClientJobContext; abort: AbortController; logs: string[]; warnings: string[]; jobDir: string } {
  const dir = tempDir("cohort-flare-client-");
  const job = join(dir, "jobs", JOB_ID);
  cpSync(FIXTURE, join(job, "app"), { recursive: true });
  mkdirSync(join(job, "app", "app", "custom"), { recursive: true });
  if (existsSync(script)) copyFileSync(script, join(job, "app", "app", "custom", "client.py"));
  const abort = new AbortController();
  const logs: string[] = [];
  const warnings: string[] = [];
  const components = new Map<string, unknown>();
  const ctx = testSiteContext({
    jobId: JOB_ID,
    jobName: "hello-numpy",
    runDir: join(job, "workspace"),
    signal: abort.signal,
    log: (l) => logs.push(l),
    warn: (l) => warnings.push(l),
    component: <T>(id: string): T => {
      if (!components.has(id)) throw new Error(`no component ${id}`);
      return components.get(id) as T;
    },
  });
  // FLARE's SubprocessLauncher components, for the ClientAPILauncherExecutor (built as the job host builds components).
  for (const update of ["full", "diff"])
    components.set(
      `launcher-${update}`,
      componentFor(FLARE_SUBPROCESS_LAUNCHER)?.create({ script: `python3 -u custom/client.py --update_type ${update}` }, ctx),
    );
  return { ctx, abort, logs, warnings, jobDir: join(job, "app") };
}

type Site = ReturnType<typeof site>;

function executor(s: Site, path: string, args: Record<string, unknown>): Executor {
  const def = componentFor(path);
  assert.ok(def, `${path} is registered`);
  assert.equal(def.startsProcesses, true, `${path} starts processes (the job is BYOC)`);
  return def.create(args, s.ctx) as Executor;
}

/** hello-numpy's model: [[1,2,3],[4,5,6],[7,8,9]] as FLARE's NPModelPersistor sends it (float32, 3×3). */
const MODEL = [1, 2, 3, 4, 5, 6, 7, 8, 9];
const task = (round: number, values = MODEL): Uint8Array =>
  encode(
    new FLModel({
      params: { numpy_key: new Tensor(new Float32Array(values), [3, 3]) },
      paramsType: "FULL",
      currentRound: round,
      totalRounds: 3,
      meta: {},
    }),
  );

/** The script's stdout reaches the site log on its own stream: wait for a line (bounded). */
async function logged(s: Site, line: string): Promise<boolean> {
  for (const end = Date.now() + 10_000; Date.now() < end; await new Promise((r) => setTimeout(r, 25))) if (s.logs.includes(line)) return true;
  return s.logs.includes(line);
}

async function run(ex: Executor, s: Site, taskName: string, payload: Uint8Array): Promise<FLModel> {
  const r = decode(await ex.execute(taskName, payload, s.ctx));
  assert.ok(r instanceof FLModel);
  return r;
}

/** The 3×3 float32 array a result carries under numpy_key. */
function numpyKey(r: FLModel): number[] {
  const t = r.params["numpy_key"];
  assert.ok(t instanceof Tensor, "numpy_key comes back as a tensor");
  assert.deepEqual(t.shape, [3, 3]);
  assert.ok(t.data instanceof Float32Array, "float32, as the task had");
  return [...t.data];
}

const plusOne = MODEL.map((v) => v + 1);
const ones = MODEL.map(() => 1);

/** The executor args of the exported config_fed_client.json, for --update_type full or diff. */
function exportedArgs(update: "full" | "diff"): Record<string, unknown> {
  const job = loadJobFolder(FIXTURE);
  const args = { ...job.apps.get("app")?.client?.executors[0]?.executor.args };
  return update === "full" ? args : { ...args, task_script_args: "--update_type diff", params_transfer_type: "DIFF" };
}

/** Each FLARE executor path, with the arguments FLARE writes for hello-numpy's --update_type full and diff. */
const VARIANTS: { name: string; path: string; full: Record<string, unknown>; diff: Record<string, unknown> }[] = [
  { name: "ClientAPIExecutor in_process (as job.export() writes it)", path: FLARE_CLIENT_API_EXECUTOR, full: exportedArgs("full"), diff: exportedArgs("diff") },
  {
    name: "ClientAPIExecutor external_process",
    path: FLARE_CLIENT_API_EXECUTOR,
    full: { execution_mode: "external_process", command: "python3 -u custom/client.py --update_type full", params_exchange_format: "numpy" },
    diff: {
      execution_mode: "external_process",
      command: "python3 -u custom/client.py --update_type diff",
      params_exchange_format: "numpy",
      params_transfer_type: "DIFF",
    },
  },
  {
    name: "InProcessClientAPIExecutor",
    path: FLARE_IN_PROCESS_EXECUTOR,
    full: { task_script_path: "client.py", task_script_args: "--update_type full", params_exchange_format: "numpy" },
    diff: { task_script_path: "client.py", task_script_args: "--update_type diff", params_exchange_format: "numpy", params_transfer_type: "DIFF" },
  },
  {
    name: "ClientAPILauncherExecutor with a SubprocessLauncher",
    path: FLARE_LAUNCHER_EXECUTOR,
    full: { pipe_id: "pipe", launcher_id: "launcher-full", params_exchange_format: "numpy" },
    diff: { pipe_id: "pipe", launcher_id: "launcher-diff", params_exchange_format: "numpy", params_transfer_type: "DIFF" },
  },
];

describe("FLARE's hello-numpy and hello-numpy-cross-val client.py, unchanged", needs, () => {
  test("the exported hello-numpy folder is read by Cohort; its client components are all registered", () => {
    const job = loadJobFolder(FIXTURE);
    assert.deepEqual(job.meta.deploy_map, { app: ["@ALL"] });
    const client = job.apps.get("app")?.client;
    assert.ok(client);
    for (const c of [...client.components, ...client.executors.map((e) => e.executor)]) assert.ok(componentFor(c.path ?? ""), `${c.path} is registered`);
    assert.deepEqual(client.executors[0]?.tasks, ["*"]);
  });

  for (const v of VARIANTS) {
    test(`${v.name}: hello-numpy trains (+1 FULL, 3×3 float32), logs its SummaryWriter scalar with the step, sends DIFF with --update_type diff`, {
      timeout: 60_000,
    }, async () => {
      const s = site();
      try {
        const full = executor(s, v.path, v.full);
        const r0 = await run(full, s, "train", task(0));
        assert.equal(r0.paramsType, "FULL");
        assert.deepEqual(numpyKey(r0), plusOne);
        assert.equal(r0.currentRound, 0);
        assert.deepEqual(r0.metrics, { weight_mean: 6 });
        assert.deepEqual(r0.meta[LOGGED_META_KEY], [["weight_mean", 6, 0]], "the SummaryWriter scalar travels with the result, with its step");
        const r1 = await run(full, s, "train", task(1, numpyKey(r0)));
        assert.deepEqual(
          numpyKey(r1),
          plusOne.map((x) => x + 1),
        );
        assert.deepEqual(r1.meta[LOGGED_META_KEY], [["weight_mean", 7, 1]]);
        assert.ok(
          s.logs.some((l) => l === "client.py metric weight_mean=6 (step 0, writer TORCH_TENSORBOARD)"),
          "add_scalar reaches the site with its step and writer",
        );
        assert.ok(
          s.logs.some((l) => l === "client.py metric weight_mean=7 (step 1, writer TORCH_TENSORBOARD)"),
          "round 2's scalar, from the same process",
        );
        assert.ok(await logged(s, "client.py: Client site-2 initialized"), `system_info()["site_name"] is the site:\n${s.logs.join("\n")}`);
        assert.equal(s.logs.filter((l) => l.startsWith("starting ")).length, 1, "one process for the job (launch_once)");
        // --update_type diff: the script sends the difference itself.
        const d = await run(executor(s, v.path, v.diff), s, "train", task(0));
        assert.equal(d.paramsType, "DIFF");
        assert.deepEqual(numpyKey(d), ones);
        // params_transfer_type DIFF with a script that sends FULL: the executor sends the difference, as FLARE's Client API does.
        const byExecutor = executor(s, v.path, { ...v.full, params_transfer_type: "DIFF" });
        const e = await run(byExecutor, s, "train", task(0));
        assert.equal(e.paramsType, "DIFF");
        assert.deepEqual(numpyKey(e), ones);
      } finally {
        s.abort.abort("test over");
      }
    });

    test(`${v.name}: hello-numpy-cross-val trains, validates and submits its model (the script answers every task)`, { timeout: 60_000 }, async () => {
      const s = site(CROSS_VAL);
      try {
        const ex = executor(s, v.path, v.full);
        const trained = await run(ex, s, "train", task(0));
        assert.deepEqual(numpyKey(trained), plusOne);
        assert.deepEqual(trained.metrics, { weight_mean: 6 });
        const validated = await run(ex, s, "validate", task(0, plusOne));
        assert.deepEqual(validated.metrics, { weight_mean: 6 });
        assert.deepEqual(validated.params, {});
        const submitted = await run(ex, s, "submit_model", encode(new FLModel({})));
        assert.equal(submitted.paramsType, "FULL");
        assert.deepEqual(numpyKey(submitted), plusOne);
        assert.ok(await logged(s, "client.py: Client site-2 submitting local model"));
      } finally {
        s.abort.abort("test over");
      }
    });
  }

  test("in-process execution runs as a confined external process, and says so; ignored FLARE arguments are named in a warning", {
    timeout: 30_000,
  }, async () => {
    const s = site();
    try {
      const ex = executor(s, FLARE_CLIENT_API_EXECUTOR, { ...exportedArgs("full"), heartbeat_timeout: 30, memory_gc_rounds: 1, train_with_evaluation: true });
      assert.deepEqual(s.warnings, ["FLARE's ClientAPIExecutor: ignored, no meaning in Cohort: train_with_evaluation, memory_gc_rounds, heartbeat_timeout"]);
      assert.ok(
        s.logs.includes(
          "FLARE's ClientAPIExecutor: in-process execution runs as a confined external process in Cohort (never inside a site process): python3 -u client.py --update_type full",
        ),
        s.logs.join("\n"),
      );
      assert.deepEqual(numpyKey(await run(ex, s, "train", task(0))), plusOne);
      executor(s, FLARE_LAUNCHER_EXECUTOR, { pipe_id: "pipe", launcher_id: "launcher-full", workers: 4, read_interval: 0.5 });
      assert.equal(s.warnings[1], "FLARE's ClientAPILauncherExecutor: ignored, no meaning in Cohort: pipe_id, read_interval, workers");
    } finally {
      s.abort.abort("test over");
    }
  });

  test("logged values travel with the result up to the documented bytes a task: at the limit and one past it", { timeout: 30_000 }, async () => {
    const documented = documentedNumber("docs/client-api.md", /the first (\d+) (KiB) of them a task/);
    assert.equal(documented, MAX_LOGGED_BYTES);
    // Keys of 14 characters: key + 18 = 32 bytes a value, so the limit holds exactly limit / 32 values.
    const fit = MAX_LOGGED_BYTES / 32;
    const s = site();
    writeFile(
      join(s.jobDir, "app", "custom", "many.py"),
      `import nvflare.client as flare
from nvflare.client.tracking import SummaryWriter

flare.init()
w = SummaryWriter()
while flare.is_running():
    m = flare.receive()
    for i in range(int(flare.get_config()["n"])):
        w.add_scalar(f"v{i:013d}", float(i), global_step=i)
    flare.send(flare.FLModel(params=m.params, params_type="FULL"))
`,
    );
    try {
      for (const n of [fit, fit + 1]) {
        const ex = executor(s, FLARE_CLIENT_API_EXECUTOR, { execution_mode: "external_process", command: "python3 custom/many.py", config: { n } });
        const series = (await run(ex, s, "train", task(0))).meta[LOGGED_META_KEY] as [string, number, number][];
        assert.equal(series.length, fit, `${n} values logged: the first ${fit} travel`);
        assert.deepEqual(series[fit - 1], [`v${String(fit - 1).padStart(13, "0")}`, fit - 1, fit - 1]);
      }
      assert.ok(
        await logged(s, `many.py metric v${String(fit).padStart(13, "0")}=${fit} (step ${fit}, writer TORCH_TENSORBOARD)`),
        "the value past the limit is in the site log",
      );
    } finally {
      s.abort.abort("test over");
    }
  });

  test("`import nvflare` is Cohort's shim on the script's path, and only there", { timeout: 30_000 }, async () => {
    const s = site();
    writeFile(
      join(s.jobDir, "app", "custom", "where.py"),
      `import nvflare
import nvflare.client as flare

flare.init()
while flare.is_running():
    m = flare.receive()
    flare.send(flare.FLModel(params=m.params, params_type="FULL", meta={"nvflare": nvflare.__file__}))
`,
    );
    // A program given as custom/<file> (FLARE starts commands in the app folder) runs from Cohort's custom/.
    writeFile(join(s.jobDir, "app", "custom", "where.sh"), `#!/bin/sh\nexec /usr/bin/python3 where.py "$@"\n`);
    chmodSync(join(s.jobDir, "app", "custom", "where.sh"), 0o755);
    try {
      const ex = executor(s, FLARE_CLIENT_API_EXECUTOR, { execution_mode: "external_process", command: ["custom/where.sh"] });
      const r = await run(ex, s, "train", task(0));
      assert.equal(r.meta["nvflare"], SHIM_INIT);
    } finally {
      s.abort.abort("test over");
    }
    // Cohort's own Python package root (python/, what a pip install of cohort_flare would hold) has no nvflare.
    const outside = spawnSync(PYTHON, ["-c", "import nvflare"], {
      env: { PYTHONPATH: join(REPO_ROOT, "python"), PATH: "/usr/bin:/bin", PYTHONDONTWRITEBYTECODE: "1" },
      encoding: "utf8",
    });
    assert.notEqual(outside.status, 0);
    assert.match(outside.stderr, /No module named 'nvflare'/);
  });
});

describe("FLARE executor arguments Cohort refuses", () => {
  const refused = (path: string, args: Record<string, unknown>, why: RegExp): void => {
    const s = site();
    assert.throws(
      () => executor(s, path, args),
      (e: Error & { code?: string }) => {
        assert.equal(e.code, "ERR_CLIENT_API_CONFIG");
        assert.match(e.message, why);
        return true;
      },
    );
    assert.ok(!s.logs.some((l) => l.startsWith("starting ")), "no process was started");
  };

  test("a command with shell metacharacters is refused (Cohort runs commands without a shell)", () => {
    for (const command of [
      "python3 -u custom/client.py > out.txt",
      "python3 custom/a.py; python3 custom/b.py",
      "cd custom && python3 client.py",
      "python3 custom/client.py | tee log",
      "python3 custom/$(whoami).py",
      "python3 custom/`id`.py",
    ])
      refused(FLARE_CLIENT_API_EXECUTOR, { execution_mode: "external_process", command }, /is shell syntax: Cohort runs the command without a shell/);
    refused(FLARE_IN_PROCESS_EXECUTOR, { task_script_path: "client.py", task_script_args: "--out x > y" }, /task_script_args .* is shell syntax/);
    const s = site();
    const launcher = componentFor(FLARE_SUBPROCESS_LAUNCHER)?.create({ script: "python3 custom/client.py && rm -rf /" }, s.ctx);
    assert.throws(
      () => executor({ ...s, ctx: { ...s.ctx, component: <T>() => launcher as T } }, FLARE_LAUNCHER_EXECUTOR, { pipe_id: "p", launcher_id: "launcher" }),
      /SubprocessLauncher script .* is shell syntax/,
    );
  });

  test("a template placeholder left unresolved is refused, naming the config key that fills it", () => {
    refused(
      FLARE_CLIENT_API_EXECUTOR,
      { execution_mode: "external_process", command: "python3 -u custom/{app_script}  {app_config} " },
      /still has the placeholder \{app_script\}: FLARE fills it from the config's top-level "app_script" key/,
    );
  });

  test("params_exchange_format pytorch reaches the script's launch; numpy and raw mean numpy; none is FLARE's default (auto)", () => {
    const s = site();
    for (const [format, expected] of [
      ["pytorch", "pytorch"],
      ["PyTorch", "pytorch"],
      ["raw", "numpy"],
      [undefined, "auto"],
    ] as const) {
      const e = executor(s, FLARE_CLIENT_API_EXECUTOR, { ...exportedArgs("full"), params_exchange_format: format, server_expected_format: "pytorch" });
      assert.ok(e instanceof ExternalProcessExecutor);
      assert.equal(e.exchangeFormat, expected, String(format));
    }
  });

  test("unsupported values are refused with the reason", () => {
    refused(
      FLARE_CLIENT_API_EXECUTOR,
      { ...exportedArgs("full"), params_exchange_format: "keras_layer_weights" },
      /params_exchange_format "keras_layer_weights" is not supported.*"numpy" or "pytorch"/,
    );
    refused(
      FLARE_CLIENT_API_EXECUTOR,
      { ...exportedArgs("full"), server_expected_format: "keras_layer_weights" },
      /server_expected_format "keras_layer_weights"/,
    );
    refused(
      FLARE_CLIENT_API_EXECUTOR,
      { execution_mode: "attach", attach_id: "t1" },
      /execution_mode "attach" .* Cohort starts and confines every training process/,
    );
    refused(FLARE_CLIENT_API_EXECUTOR, { ...exportedArgs("full"), params_transfer_type: "HALF" }, /params_transfer_type "HALF" must be "FULL" or "DIFF"/);
    refused(FLARE_CLIENT_API_EXECUTOR, { ...exportedArgs("full"), not_an_arg: 1 }, /unknown argument "not_an_arg"/);
    refused(FLARE_CLIENT_API_EXECUTOR, { execution_mode: "in_process" }, /needs task_script_path/);
    refused(
      FLARE_CLIENT_API_EXECUTOR,
      { execution_mode: "external_process", task_script_path: "client.py" },
      /task_script_path and task_script_args are only valid/,
    );
    refused(FLARE_CLIENT_API_EXECUTOR, { execution_mode: "in_process", task_script_path: "client.py", command: "python3 x.py" }, /command is only valid/);
    refused(FLARE_IN_PROCESS_EXECUTOR, { task_script_path: "../outside.py" }, /must be a \.py file inside the app's custom\/ folder/);
    refused(
      FLARE_IN_PROCESS_EXECUTOR,
      { task_script_path: "client.py", from_nvflare_converter_id: "to_torch" },
      /names a FLARE ParamsConverter, which Cohort cannot run/,
    );
    refused(FLARE_LAUNCHER_EXECUTOR, { pipe_id: "pipe", launcher_id: "nope" }, /launcher_id "nope" must name a .*SubprocessLauncher component/);
    refused(FLARE_CLIENT_API_EXECUTOR, { ...exportedArgs("full"), shutdown_timeout: 600 }, /stop_grace \(FLARE's shutdown_timeout\)/);
  });

  test("FLARE command strings split like shlex, quotes grouping words", () => {
    assert.deepEqual(splitCommand("X", "command", `python3 -u custom/client.py --name "a b" --tag 'c d' --x=a"b c"`), [
      "python3",
      "-u",
      "custom/client.py",
      "--name",
      "a b",
      "--tag",
      "c d",
      "--x=ab c",
    ]);
    assert.throws(() => splitCommand("X", "command", `python3 "unclosed`), /unmatched " quote/);
  });
});
