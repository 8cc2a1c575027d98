/**
 * FLARE's numpy components (np-components.ts) by their FLARE paths: NPModelLocator reads only
 * inside the server's run folder; CrossSiteModelEval takes the server's models from it (FLARE's
 * `SRV_<name>`); NPTrainer adds `delta` and submits its last model; NPValidator's accuracy is
 * FLARE's sum(w / max(w)) + a random number in [0, 1); NPFormatter writes FLARE's text.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdirSync, readFileSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import "../../src/runtime/components/builtins.js";
import { componentFor, type ClientJobContext, type Executor, type JobContextBase } from "../../src/runtime/components/registry.js";
import { CrossSiteModelEval, crossSiteArgs, type CrossSiteMatrix } from "../../src/runtime/components/cross-site-eval.js";
import { NPFormatter, NPModelLocator, NPValidator, npValidatorArgs } from "../../src/runtime/components/np-components.js";
import { decodeNpy, encodeNpy } from "../../src/runtime/components/npy.js";
import { decode, encode, FLModel, Tensor } from "../../src/wire/index.js";
import { tempDir } from "../helpers/index.js";
import { testServerContext } from "../helpers/job-contexts.js";

const NP = "nvflare.app_common.np";
const LOCATOR = `${NP}.np_model_locator.NPModelLocator`;

/** A site's job context: the shared test defaults, at site-1. */
function siteContext(runDir = tempDir("cohort-np-site-"), logs: string[] = []): ClientJobContext {
  const noPeers = () => Promise.reject(new Error("no peers in this test"));
  const base = testServerContext({
    site: "site-1",
    sites: ["site-1", "site-2"],
    runDir,
    log: (l) => logs.push(l),
    warn: (l) => logs.push(l),
    sendTask: noPeers,
  });
  return { ...base, peers: { send: noPeers, receive: noPeers }, runTask: noPeers };
}

/** A registered FLARE component built from its path, as a job config builds it. */
function build<T>(path: string, args: Record<string, unknown>, runDir = tempDir("cohort-np-")): T {
  const def = componentFor(path);
  assert.ok(def, `${path} is registered`);
  return def.create(args, { ...siteContext(runDir) } as JobContextBase) as T;
}

const npModel = (values: number[], shape = [values.length], extra: Record<string, unknown> = {}): FLModel =>
  new FLModel({ params: { numpy_key: new Tensor(Float32Array.from(values), shape), ...extra }, paramsType: "FULL", currentRound: 2, meta: {} });

function writeNpy(runDir: string, rel: string, values: number[], shape = [values.length]): void {
  mkdirSync(join(runDir, rel, ".."), { recursive: true });
  writeFileSync(join(runDir, rel), encodeNpy(Float32Array.from(values), shape));
}

test("NPModelLocator: an absolute path or '..' in model_dir or model_name is refused, naming the argument; so is an argument FLARE's class has not", () => {
  const refusals: [Record<string, unknown>, RegExp][] = [
    [{ model_dir: "/etc" }, /NPModelLocator args\.model_dir: "\/etc" is an absolute path: give a path inside the job's run folder/],
    [{ model_dir: "../other-job/models" }, /args\.model_dir: .* climbs out with '\.\.'/],
    [{ model_dir: "models/../../x" }, /args\.model_dir: .* climbs out with '\.\.'/],
    [{ model_dir: "\\\\server\\share" }, /args\.model_dir: .* is an absolute path/],
    [{ model_name: "/tmp/nvflare/server_pretrain_models/server_1.npy" }, /args\.model_name.*is an absolute path/],
    [{ model_name: { server_model_1: "server_1.npy", server_model_2: "../../server_2.npy" } }, /args\.model_name.*climbs out with '\.\.'/],
    [{ model_name: "server.npy", persistor_id: "persistor" }, /FLARE's NPModelLocator has no argument "persistor_id"/],
  ];
  for (const [args, message] of refusals)
    assert.throws(
      () => build(LOCATOR, args),
      (err: Error & { code?: string }) => err.code === "ERR_WORKFLOW_CONFIG" && message.test(err.message),
      JSON.stringify(args),
    );
});

test("NPModelLocator: reads models/server.npy as 'server' by default, and each file of a model_name dict, with its shape", () => {
  const runDir = tempDir("cohort-np-locator-");
  writeNpy(runDir, "models/server.npy", [1, 2, 3, 4, 5, 6], [2, 3]);
  const byDefault = build<NPModelLocator>(LOCATOR, {}, runDir);
  assert.deepEqual(byDefault.getModelNames(), ["server"]);
  const m = byDefault.locateModel("server")["numpy_key"] as Tensor;
  assert.deepEqual(
    [[...m.shape], [...m.data]],
    [
      [2, 3],
      [1, 2, 3, 4, 5, 6],
    ],
  );
  writeNpy(runDir, "pretrained/a/server_1.npy", [7]);
  writeNpy(runDir, "pretrained/server_2.npy", [8, 9]);
  const named = build<NPModelLocator>(
    LOCATOR,
    { model_dir: "pretrained", model_name: { server_model_1: "a/server_1.npy", server_model_2: "server_2.npy" } },
    runDir,
  );
  assert.deepEqual(named.getModelNames(), ["server_model_1", "server_model_2"]);
  assert.deepEqual([...(named.locateModel("server_model_2")["numpy_key"] as Tensor).data], [8, 9]);
  assert.throws(() => named.locateModel("server"), /NPModelLocator has no model named "server"/);
  assert.throws(
    () => build<NPModelLocator>(LOCATOR, { model_name: "missing.npy" }, runDir).locateModel("server"),
    /models\/missing\.npy\) is not in the server's run folder/,
  );
});

test("NPModelLocator: a model file or folder that a link leads outside the run folder is refused", () => {
  const runDir = tempDir("cohort-np-locator-");
  const outside = tempDir("cohort-np-outside-");
  writeNpy(outside, "secret.npy", [42]);
  mkdirSync(join(runDir, "models"));
  symlinkSync(join(outside, "secret.npy"), join(runDir, "models", "server.npy"));
  symlinkSync(outside, join(runDir, "elsewhere"));
  assert.throws(
    () => build<NPModelLocator>(LOCATOR, {}, runDir).locateModel("server"),
    /models\/server\.npy leads outside the job's run folder \(through a link\): refused/,
  );
  assert.throws(
    () => build<NPModelLocator>(LOCATOR, { model_dir: "elsewhere", model_name: "secret.npy" }, runDir).locateModel("server"),
    /elsewhere\/secret\.npy leads outside the job's run folder/,
  );
});

test("CrossSiteModelEval with model_locator_id evaluates the locator's models as SRV_<name> (not models/global_model.cohort); an empty submit_model_task_name asks no site for its model", async () => {
  const runDir = tempDir("cohort-np-xsite-");
  writeNpy(runDir, "models/server.npy", [1, 2, 3]);
  writeNpy(runDir, "models/best.npy", [3, 3, 3]);
  writeFileSync(join(runDir, "models", "global_model.cohort"), encode(new FLModel({ params: { w: new Float32Array([100]) }, paramsType: "FULL", meta: {} })));
  const locator = new NPModelLocator({ model_dir: "models", model_name: { server: "server.npy", best: "best.npy" } }, runDir);
  const formatter = new NPFormatter();
  const tasks: string[] = [];
  const logs: string[] = [];
  const ctx = testServerContext({
    sites: ["site-1", "site-2"],
    runDir,
    log: (l) => logs.push(l),
    component: <T>(id: string): T => ({ locator, formatter, persistor: {} })[id] as T,
    async sendTask(site, taskName, payload) {
      tasks.push(`${site}:${taskName}`);
      if (taskName === "submit_model") return encode(npModel([Number(site.slice(-1))]));
      const m = decode(payload) as FLModel;
      const w = (m.params["numpy_key"] as Tensor<Float32Array>).data;
      return encode(new FLModel({ metrics: { mean: w.reduce((a, b) => a + b, 0) / w.length, owner: m.meta["model_owner"] === "SRV_best" ? 1 : 0 } }));
    },
  });
  await new CrossSiteModelEval(crossSiteArgs.parse({ model_locator_id: "locator", formatter_id: "formatter" })).run(ctx);
  const matrix = JSON.parse(readFileSync(join(runDir, "cross_site_val", "cross_val_results.json"), "utf8")) as CrossSiteMatrix;
  assert.deepEqual(Object.keys(matrix["site-1"] ?? {}), ["site-1", "site-2", "SRV_server", "SRV_best"]);
  assert.deepEqual(matrix["site-2"]?.["SRV_server"], { mean: 2, owner: 0 });
  assert.deepEqual(matrix["site-2"]?.["SRV_best"], { mean: 3, owner: 1 });
  assert.match(
    logs.join("\n"),
    /cross-site: \{'site-1': \{'site-1': \{'mean': 1\.0, 'owner': 0\.0\}, 'site-2': .*'SRV_best': \{'mean': 3\.0, 'owner': 1\.0\}\}, 'site-2': /,
  );

  tasks.length = 0;
  await new CrossSiteModelEval(crossSiteArgs.parse({ model_locator_id: "locator", submit_model_task_name: "" })).run(ctx);
  assert.ok(!tasks.some((t) => t.endsWith(":submit_model")), tasks.join(", "));
  const only = JSON.parse(readFileSync(join(runDir, "cross_site_val", "cross_val_results.json"), "utf8")) as CrossSiteMatrix;
  assert.deepEqual(Object.keys(only["site-1"] ?? {}), ["SRV_server", "SRV_best"]);

  await assert.rejects(
    new CrossSiteModelEval(crossSiteArgs.parse({ model_locator_id: "persistor" })).run(ctx),
    /model_locator_id: component "persistor" is not a model locator/,
  );
});

test("NPTrainer: train adds delta to the numpy_key weights (float32, shape and other parameters kept) and keeps the result, which submit_model sends", async () => {
  const runDir = tempDir("cohort-np-trainer-");
  const trainer = build<Executor>(`${NP}.np_trainer.NPTrainer`, { delta: 0.1 }, runDir);
  const ctx = siteContext(runDir);
  await assert.rejects(
    trainer.execute("submit_model", encode(new FLModel({})), ctx),
    /NPTrainer at site-1 has no local model to submit \(model\/best_numpy\.npy\)/,
  );
  const out = decode(await trainer.execute("train", encode(npModel([1, 2, 3, 4], [2, 2], { other: new Float32Array([5]) })), ctx)) as FLModel;
  const w = out.params["numpy_key"] as Tensor;
  const expected = [1, 2, 3, 4].map((x) => Math.fround(x + Math.fround(0.1)));
  assert.deepEqual([[...w.shape], [...w.data]], [[2, 2], expected]);
  assert.deepEqual(out.params["other"], new Float32Array([5]));
  assert.deepEqual([out.paramsType, out.currentRound, out.meta["NUM_STEPS_CURRENT_ROUND"]], ["FULL", 2, 1]);
  const kept = decodeNpy(readFileSync(join(runDir, "model", "best_numpy.npy")), "best_numpy.npy");
  assert.deepEqual([...kept.data], expected);
  const submitted = decode(await trainer.execute("submit_model", encode(new FLModel({})), ctx)) as FLModel;
  assert.deepEqual([...(submitted.params["numpy_key"] as Tensor).data], expected);
  assert.equal(submitted.meta["model_owner"], "site-1");
});

test("NPTrainer refuses what FLARE's does (a DIFF, a model without numpy_key, a task it does not run, a non-number delta), and a model_dir or model_name outside the run folder (absolute, '..', a link)", async () => {
  const runDir = tempDir("cohort-np-trainer-");
  const trainer = build<Executor>(`${NP}.np_trainer.NPTrainer`, {}, runDir);
  const ctx = siteContext(runDir);
  const diff = new FLModel({ params: { numpy_key: new Float32Array([1]) }, paramsType: "DIFF", meta: {} });
  await assert.rejects(trainer.execute("train", encode(diff), ctx), /NPTrainer takes a model of kind WEIGHTS \(FULL\); the task has a DIFF/);
  await assert.rejects(
    trainer.execute("train", encode(new FLModel({ params: { w: new Float32Array([1]) }, paramsType: "FULL" })), ctx),
    /no float array under numpy_key \(it has w\)/,
  );
  await assert.rejects(trainer.execute("validate", encode(npModel([1])), ctx), /NPTrainer has no task "validate" \(it runs train, submit_model\)/);
  assert.throws(() => build(`${NP}.np_trainer.NPTrainer`, { delta: "1" }), /NPTrainer args\.delta: delta must be a number/);
  assert.throws(() => build(`${NP}.np_trainer.NPTrainer`, { model_dir: "/tmp" }), /NPTrainer args\.model_dir: "\/tmp" is an absolute path/);
  assert.throws(() => build(`${NP}.np_trainer.NPTrainer`, { model_name: "../../best.npy" }), /NPTrainer args\.model_name: .* climbs out with '\.\.'/);
  const outside = tempDir("cohort-np-outside-");
  symlinkSync(outside, join(runDir, "model"));
  await assert.rejects(trainer.execute("train", encode(npModel([1])), ctx), /NPTrainer: model leads outside the job's run folder/);
});

test("NPValidator: accuracy is sum(w / max(w)) plus a random number in [0, 1), as FLARE's; other tasks and a model whose largest weight is 0 are refused", async () => {
  const ctx = siteContext();
  const fixed = new NPValidator(npValidatorArgs.parse({}), () => 0.25);
  const r = decode(await fixed.execute("validate", encode(npModel([1, 2, 4], [3], {})), ctx)) as FLModel;
  assert.deepEqual(r.metrics, { accuracy: 0.25 + 0.5 + 1 + 0.25 });
  assert.deepEqual(r.params, {});
  const registered = build<Executor>(`${NP}.np_validator.NPValidator`, { epsilon: 1, validate_task_name: "eval" });
  for (let i = 0; i < 20; i++) {
    const a = (decode(await registered.execute("eval", encode(npModel([2, 2])), ctx)) as FLModel).metrics?.["accuracy"] as number;
    assert.ok(a >= 2 && a < 3, String(a));
  }
  await assert.rejects(registered.execute("validate", encode(npModel([1])), ctx), /NPValidator has no task "validate" \(it runs eval\)/);
  await assert.rejects(fixed.execute("validate", encode(npModel([0, -1])), ctx), /largest weight is 0/);
});

test("NPFormatter writes the matrix as FLARE's does (a Python dict's text), leaving out failed cells and empty rows", () => {
  const text = new NPFormatter().format({
    "site-1": { "site-2": { accuracy: 0.5, n: 3 }, SRV_server: { error: "crashed" }, SRV_best: { tiny: 1e-7, big: 1e16 } },
    "site-2": {},
  });
  assert.equal(text, "{'site-1': {'site-2': {'accuracy': 0.5, 'n': 3.0}, 'SRV_best': {'tiny': 1e-07, 'big': 1e+16}}}");
  assert.throws(() => build(`${NP}.np_formatter.NPFormatter`, { indent: 2 }), /FLARE's NPFormatter has no argument "indent"/);
});
