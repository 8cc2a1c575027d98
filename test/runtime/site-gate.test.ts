import { test } from "node:test";
import assert from "node:assert/strict";
import { SiteJobGate, METRIC_LIMITS, type SiteGateOptions } from "../../src/runtime/site/gate.js";
import { clientConfigSchema } from "../../src/runtime/jobs/definition.js";
import { decode, encode, FLModel } from "../../src/wire/index.js";
import type { PrivacyScope } from "../../src/privacy/index.js";

const app = (extra: Record<string, unknown> = {}) =>
  clientConfigSchema.parse({
    executors: [
      { tasks: ["train"], executor: { path: "cohort.NoOpTrainer", args: {} } },
      { tasks: ["swarm"], executor: { path: "cohort.SwarmClientController", args: {} } },
      { tasks: ["cse_*"], executor: { path: "nvflare.app_common.ccwf.CrossSiteEvalClientController", args: {} } },
    ],
    ...extra,
  });

const scope = (resultFilters: PrivacyScope["task_result_filters"]): PrivacyScope => ({
  name: "strict",
  properties: {},
  task_data_filters: [],
  task_result_filters: resultFilters,
});

function gate(o: Partial<SiteGateOptions> = {}) {
  const charges: { taskName: string; epsilon: number }[] = [];
  const drops: { dropped: number; why: string }[] = [];
  const g = SiteJobGate.build({
    site: "site-1",
    jobId: "00000000-0000-4000-8000-000000000000",
    app: app(),
    scope: undefined,
    he: undefined,
    charge: async (taskName, spend) => void charges.push({ taskName, epsilon: spend.epsilon }),
    log: () => undefined,
    onMetricsDropped: (_t, dropped, why) => void drops.push({ dropped, why }),
    ...o,
  });
  return { g, charges, drops };
}

const model = (params: Record<string, Float32Array>, metrics?: Record<string, unknown>) =>
  new FLModel({ params, paramsType: "FULL", ...(metrics ? { metrics } : {}), meta: {} });
const taskData = encode(model({ w: new Float32Array(4), b: new Float32Array(2) }));

test("a result is checked against the task's model: a subset passes, a new or resized parameter is refused", async () => {
  const { g } = gate();
  const data = await g.taskIn("train", taskData);
  await g.resultOut("train", encode(model({ w: new Float32Array(4) })), data.reference);
  await assert.rejects(
    g.resultOut("train", encode(model({ w: new Float32Array(4), stolen: new Float32Array(100) })), data.reference),
    (e: Error & { code?: string }) => e.code === "ERR_JOB_RESULT_REFUSED" && /stolen/.test(e.message),
  );
  await assert.rejects(
    g.resultOut("train", encode(model({ w: new Float32Array(400) })), data.reference),
    (e: Error & { code?: string }) => e.code === "ERR_JOB_RESULT_REFUSED" && /Float32Array\(400\)/.test(e.message),
  );
});

test("metrics are bounded: numbers only, short names, a count per result; drops are reported", async () => {
  const { g, drops } = gate();
  const data = await g.taskIn("train", taskData);
  const metrics: Record<string, unknown> = { accuracy: 0.8, text: "exfiltrated", ["x".repeat(METRIC_LIMITS.keyLength + 1)]: 1, nan: Number.NaN };
  for (let i = 0; i < 100; i++) metrics[`m${i}`] = i;
  const out = decode(await g.resultOut("train", encode(model({ w: new Float32Array(4) }, metrics)), data.reference)) as FLModel;
  assert.equal(Object.keys(out.metrics ?? {}).length, METRIC_LIMITS.perResult);
  assert.equal(out.metrics?.["accuracy"], 0.8);
  assert.equal(out.metrics?.["text"], undefined);
  assert.equal(drops.length, 1);
  assert.equal(drops[0]?.dropped, 3 + 100 - (METRIC_LIMITS.perResult - 1));
});

test("the site's result filters run on what job code returns (after it), and on peer messages leaving the site", async () => {
  const { g } = gate({ scope: scope([{ path: "nvflare.app_common.filters.exclude_vars.ExcludeVars", args: { exclude_vars: ["b"] } }]) });
  const data = await g.taskIn("train", taskData);
  const out = decode(await g.resultOut("train", encode(model({ w: new Float32Array([1, 2, 3, 4]), b: new Float32Array([5, 6]) })), data.reference)) as FLModel;
  assert.deepEqual(Object.keys(out.params), ["w"]);
  const peer = decode(await g.peerOut("site-2", "swarm.update.0.0", encode(model({ w: new Float32Array(4), b: new Float32Array(2) })))) as FLModel;
  assert.deepEqual(Object.keys(peer.params), ["w"]);
  // A peer message that is not a model cannot be filtered: it does not leave.
  await assert.rejects(g.peerOut("site-2", "swarm.update.0.0", encode({ swarm_error: "x".repeat(100) })), /not an FLModel/);
});

test("a DP filter of the site charges the site's ledger from the site process", async () => {
  const { g, charges } = gate({ scope: scope([{ path: "cohort.GaussianPrivacy", args: { epsilon: 0.5, delta: 1e-5, clip_norm: 1 } }]) });
  const data = await g.taskIn("train", taskData);
  await g.resultOut("train", encode(model({ w: new Float32Array([1, 2, 3, 4]), b: new Float32Array([5, 6]) })), data.reference);
  assert.deepEqual(charges, [{ taskName: "train", epsilon: 0.5 }]);
});

test("a control-only executor's result must be its registered answer, and only that answer goes on", async () => {
  const { g } = gate({ scope: scope([{ path: "nvflare.app_common.filters.exclude_vars.ExcludeVars", args: { exclude_vars: ["b"] } }]) });
  const ok = encode({ role: "trainer", metrics: { loss: 0.1 } });
  assert.deepEqual(await g.resultOut("swarm", ok, undefined), ok);
  const refused = (e: Error & { code?: string }) => e.code === "ERR_JOB_RESULT_REFUSED";
  await assert.rejects(g.resultOut("swarm", encode(model({ w: new Float32Array(4) })), undefined), refused);
  // A model tucked beside the metrics of a valid answer does not leave the site (swarm and ccwf cross-site evaluation).
  const weights = new Float32Array([0.25, 0.5, 0.75]);
  const smuggled = decode(await g.resultOut("swarm", encode({ role: "trainer", metrics: { loss: 0.1 }, params: { w: weights } }), undefined));
  assert.deepEqual(smuggled, { role: "trainer", metrics: { loss: 0.1 } });
  const cse = decode(await g.resultOut("cse_eval", encode({ cse: 1, evaluated: { metrics: { accuracy: 0.9 }, model: weights } }), undefined));
  assert.deepEqual(cse, { cse: 1, evaluated: { metrics: { accuracy: 0.9 } } });
  await assert.rejects(g.resultOut("cse_share_model", encode(model({ w: weights })), undefined), refused);
});

test("a job with HE filters is refused where the site has no CKKS context", () => {
  assert.throws(
    () =>
      gate({ app: app({ task_result_filters: [{ tasks: ["train"], filters: [{ path: "nvflare.app_opt.he.model_encryptor.HEModelEncryptor", args: {} }] }] }) }),
    /no CKKS client context/,
  );
});
