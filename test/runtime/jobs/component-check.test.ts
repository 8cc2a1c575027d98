/**
 * Component checks (src/runtime/jobs/component-check.ts): every component a job cannot build is
 * listed at once (file, field, path, "did you mean"); Python code in custom/ is refused as such,
 * pointing to the Client API; JavaScript in custom/ passes; the lookup never leaves custom/; the
 * messages name the job as the user knows it.
 */
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { isCohortError } from "../../../src/errors/index.js";
import { componentFor } from "../../../src/runtime/components/registry.js";
import { checkComponents } from "../../../src/runtime/jobs/component-check.js";
import { loadJobFolder } from "../../../src/runtime/jobs/definition.js";
import { RuntimeErrorCode } from "../../../src/runtime/jobs/errors.js";
import { basicJob, flareSkip, jobFromTemplate, writeJob } from "./fixtures.js";

function refusal(dir: string, shownAs?: string): { code: string; message: string; problems: string[] } {
  try {
    checkComponents(loadJobFolder(dir, shownAs ? { shownAs } : {}));
  } catch (e) {
    assert.ok(isCohortError(e), String(e));
    return { code: e.code, message: e.message, problems: e.details["problems"] as string[] };
  }
  assert.fail("the job was accepted");
}

const client = (executors: unknown[], extra: Record<string, unknown> = {}) => ({ format_version: 2, executors, ...extra });
const exec = (path: string, tasks = ["train"]) => ({ tasks, executor: { path, args: {} } });

describe("unknown components", () => {
  test("one error lists every component the job cannot build, each with its file, field and a did-you-mean", () => {
    const files = basicJob();
    const dir = writeJob({
      ...files,
      "app/config/config_fed_server.json": {
        format_version: 2,
        components: [
          { id: "persistor", path: "cohort.ModelPersistor" },
          { id: "agg", path: "cohort.WeightedAgregator" },
        ],
        workflows: [{ id: "sag", path: "cohort.ScaterAndGather" }],
      },
      "app/config/config_fed_client.json": client([exec("cohort.NoOpTrainer"), exec("evil.RemoteShell", ["validate"])], {
        task_result_filters: [{ tasks: ["train"], filters: [{ name: "GausianPrivacy", args: {} }] }],
      }),
    });
    const r = refusal(dir, "my_job");
    assert.equal(r.code, RuntimeErrorCode.UnknownComponent);
    assert.match(r.message, /^job my_job: 4 components cannot be built:\n/);
    assert.deepEqual(r.problems, [
      'my_job/app/config/config_fed_server.json: components[1].path: component path "cohort.WeightedAgregator" is not registered (did you mean "cohort.WeightedAggregator"?); use a built-in (see docs/runtime.md) or ship it in the app\'s custom/ folder as JavaScript',
      'my_job/app/config/config_fed_server.json: workflows[0].path: component path "cohort.ScaterAndGather" is not registered (did you mean "cohort.ScatterAndGather"?); use a built-in (see docs/runtime.md) or ship it in the app\'s custom/ folder as JavaScript',
      'my_job/app/config/config_fed_client.json: executors[1].executor.path: component path "evil.RemoteShell" is not registered; use a built-in (see docs/runtime.md) or ship it in the app\'s custom/ folder as JavaScript',
      'my_job/app/config/config_fed_client.json: task_result_filters[0].filters[0].path: component path "GausianPrivacy" is not registered (did you mean "GaussianPrivacy"?); use a built-in (see docs/runtime.md) or ship it in the app\'s custom/ folder as JavaScript',
    ]);
    for (const p of r.problems) assert.ok(r.message.includes(p));
  });

  test("a single problem is one line (file, field, path) with the same code", () => {
    const dir = writeJob({
      ...basicJob(),
      "app/config/config_fed_client.json": client([exec("nvflare.app_opt.pt.in_process_client_api_executor.PTInProcessClientAPIExecutor")]),
    });
    const r = refusal(dir);
    assert.equal(r.code, RuntimeErrorCode.UnknownComponent);
    assert.doesNotMatch(r.message, /\n/);
    assert.match(
      r.message,
      /app\/config\/config_fed_client\.json: executors\[0\]\.executor\.path: component path "nvflare\.app_opt\.pt\.in_process_client_api_executor\.PTInProcessClientAPIExecutor" is not registered/,
    );
  });

  test("FLARE's swarm_cse_pt template (PyTorch): every component is known (its PTFileModelPersistor then asks for initial weights, test/runtime/safetensors.test.ts)", {
    skip: flareSkip,
  }, () => {
    const dir = jobFromTemplate("swarm_cse_pt");
    const job = loadJobFolder(dir);
    const app = job.apps.get("app");
    const named = [...(app?.server?.components ?? []), ...(app?.server?.workflows ?? []), ...(app?.client?.executors.map((e) => e.executor) ?? [])].map(
      (c) => c.path ?? "",
    );
    const all = [...new Set([...named, ...(app?.client?.components ?? []).map((c) => c.path ?? "")])];
    assert.ok(all.includes("nvflare.app_opt.pt.file_model_persistor.PTFileModelPersistor"), all.join(", "));
    assert.deepEqual(
      all.filter((p) => !componentFor(p)),
      [],
    );
  });

  test("a job component without a path is refused (FLARE's short name form), listed with the others", () => {
    const dir = writeJob({
      ...basicJob(),
      "app/config/config_fed_client.json": client([{ tasks: ["train"], executor: { name: "NoOpTrainer" } }, exec("x.Y", ["v"])]),
    });
    const r = refusal(dir);
    assert.equal(r.code, RuntimeErrorCode.UnknownComponent);
    assert.match(r.message, /executors\[0\]\.executor: component "NoOpTrainer" has no "path" \(the short "name" form is not allowed for job components\)/);
    assert.match(r.message, /executors\[1\]\.executor\.path: component path "x\.Y" is not registered/);
    const only = writeJob({ ...basicJob(), "app/config/config_fed_client.json": client([{ tasks: ["train"], executor: { name: "NoOpTrainer" } }]) });
    assert.equal(refusal(only).code, RuntimeErrorCode.BadJob);
  });
});

describe("custom/ code", () => {
  const custom = (files: Record<string, string>, path: string) =>
    writeJob({
      ...basicJob(),
      "app/config/config_fed_client.json": client([exec(path)]),
      ...Object.fromEntries(Object.entries(files).map(([f, t]) => [`app/custom/${f}`, t])),
    });

  test("Python components are refused as such, pointing to the Client API, never as missing from custom/", () => {
    const cases: [Record<string, string>, string, RegExp][] = [
      [
        { "my_trainer.py": "from nvflare.apis.executor import Executor\n\nclass MyTrainer(Executor):\n    pass\n" },
        "my_trainer.MyTrainer",
        /app\/custom\/my_trainer\.py, class MyTrainer\(Executor\)/,
      ],
      [
        { "pkg/__init__.py": "class Persist(ModelPersistor):\n  ...\n", "pkg/other.py": "" },
        "pkg.Persist",
        /app\/custom\/pkg\/__init__\.py, class Persist\(ModelPersistor\)/,
      ],
      [{ "deep/mod.py": "import x\nclass   Flt(Filter, object): pass\n" }, "deep.mod.Flt", /app\/custom\/deep\/mod\.py\)|class Flt/],
      [{ "nocls.py": "# the class is elsewhere\n" }, "nocls.Missing", /app\/custom\/nocls\.py\): Python components/],
    ];
    for (const [files, path, where] of cases) {
      const r = refusal(custom(files, path), "my_job");
      assert.equal(r.code, RuntimeErrorCode.PythonComponent, r.message);
      assert.match(r.message, new RegExp(`component path ${JSON.stringify(path).replace(/\./g, "\\.")} is Python code \\(my_job/app/custom/`));
      assert.match(r.message, where);
      assert.match(r.message, /Python components are not supported; run Python training code as a Client API script \(docs\/client-api\.md/);
      assert.doesNotMatch(r.message, /not in the job's custom\/ code|not registered/);
    }
  });

  test("a JavaScript module in custom/ passes; a missing one is unknown; the lookup never leaves custom/", () => {
    checkComponents(loadJobFolder(custom({ "probe.js": "export class Probe {}\n" }, "probe.Probe")));
    checkComponents(loadJobFolder(custom({ "lib/probe.mjs": "export class Probe {}\n" }, "lib.probe.Probe")));
    assert.equal(refusal(custom({ "other.js": "" }, "probe.Probe")).code, RuntimeErrorCode.UnknownComponent);
    // Module parts must be identifiers: a path with separators is not looked up at all.
    const dir = custom({ "x.js": "" }, "../../app/custom/x.Y");
    mkdirSync(join(dir, "app", "outside"), { recursive: true });
    writeFileSync(join(dir, "app", "outside", "evil.py"), "class Y(Executor): pass\n");
    for (const path of ["../../app/custom/x.Y", "..x.Y", "a/b.Y", "outside/evil.Y"]) {
      const r = refusal(custom({ "x.js": "" }, path));
      assert.equal(r.code, RuntimeErrorCode.UnknownComponent, path);
    }
  });
});
