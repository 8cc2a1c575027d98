/**
 * FLARE's params types in Cohort's workflows (issue 18): a DIFF is added to the model it was
 * computed from, a FULL model replaces it, so sites sending `new - received` (DIFF) and sites
 * sending `new` (FULL) give the same global model; a result of the kind the round does not take is
 * refused with a named reason. Driven through the registered components (the paths job configs
 * use) with a fake server context whose sites answer like FLARE's hello-numpy client.py (+1).
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { decode, encode, FLModel, Tensor, type WireRecord } from "../../src/wire/index.js";
import { componentFor } from "../../src/runtime/components/registry.js";
import "../../src/runtime/components/builtins.js";
import type { Workflow } from "../../src/runtime/components/registry.js";
import { testServerContext } from "../helpers/job-contexts.js";
import type { GlobalModelPersistor } from "../../src/runtime/components/persistor.js";

const SAG = "nvflare.app_common.workflows.scatter_and_gather.ScatterAndGather";
const FLARE_AGG = "nvflare.app_common.aggregators.intime_accumulate_model_aggregator.InTimeAccumulateWeightedAggregator";
const INITIAL = [1, 2, 3, 4, 5, 6, 7, 8, 9];

/** A persistor holding a 3×3 float32 tensor (FLARE's numpy model) and recording what it saves. */
class MemoryPersistor implements GlobalModelPersistor {
  saved: WireRecord[] = [];
  final: WireRecord | undefined;
  constructor(private readonly flat: boolean) {}
  load(): { params: WireRecord } {
    const data = Float32Array.from(INITIAL);
    return { params: { numpy_key: this.flat ? data : new Tensor(data, [3, 3]) } };
  }
  save(_round: number, params: WireRecord): void {
    this.saved.push(params);
  }
  noteMetrics(): void {}
  finish(params: WireRecord): void {
    this.final = params;
  }
}

type Answer = (site: string, received: Float32Array, task: string) => FLModel;
/** Set while a run uses flat arrays instead of tensors (the answers mirror what they receive). */
let flatTasks = false;
/** hello-numpy's client.py: train = received + 1, sent FULL or as the DIFF (new - received). */
const plusOne =
  (type: (site: string) => "FULL" | "DIFF"): Answer =>
  (site, received) => {
    const t = type(site);
    const trained = received.map((x) => x + 1);
    const params = t === "DIFF" ? trained.map((x, i) => x - (received[i] as number)) : trained;
    return new FLModel({ params: { numpy_key: flatTasks ? params : new Tensor(params, [3, 3]) }, paramsType: t, metrics: { weight_mean: 1 }, meta: {} });
  };

async function run(o: {
  workflow?: string;
  workflowArgs?: Record<string, unknown>;
  aggregator: string;
  aggregatorArgs?: Record<string, unknown>;
  answer: Answer;
  flat?: boolean;
}) {
  flatTasks = o.flat ?? false;
  const persistor = new MemoryPersistor(flatTasks);
  const tasks: { site: string; task: string; shape: readonly number[] | undefined }[] = [];
  const warnings: string[] = [];
  const aggregator = componentFor(o.aggregator)?.create(o.aggregatorArgs ?? {}, undefined as never);
  const ctx = testServerContext(
    {
      sites: ["site-1", "site-2"],
      component: <T>(id: string) => (id === "persistor" ? persistor : aggregator) as T,
      sendTask: async (site, task, payload) => {
        const m = decode(payload) as FLModel;
        const p = m.params["numpy_key"];
        tasks.push({ site, task, shape: p instanceof Tensor ? p.shape : undefined });
        const received = p instanceof Tensor ? (p.data as Float32Array) : (p as Float32Array);
        return encode(o.answer(site, received, task));
      },
    },
    warnings,
  );
  const args = { min_clients: 2, num_rounds: 3, wait_time_after_min_received: 0, ...o.workflowArgs };
  const workflow = componentFor(o.workflow ?? SAG)?.create(args, ctx) as Workflow;
  const outcome = await workflow.run(ctx).then(
    () => undefined,
    (err: Error & { code?: string }) => err,
  );
  const final = persistor.final?.["numpy_key"];
  return {
    outcome,
    warnings,
    tasks,
    final:
      final instanceof Tensor
        ? { shape: final.shape, values: [...(final.data as Float32Array)] }
        : final instanceof Float32Array
          ? { shape: [9], values: [...final] }
          : undefined,
  };
}

test("DIFF results are added to the model they were computed from: 3 rounds of +1 give initial + 3, as FULL does", async () => {
  const expected = INITIAL.map((x) => x + 3);
  const full = await run({ aggregator: FLARE_AGG, aggregatorArgs: { expected_data_kind: "WEIGHTS" }, answer: plusOne(() => "FULL") });
  assert.equal(full.outcome, undefined);
  assert.deepEqual(full.final, { shape: [3, 3], values: expected });
  const diff = await run({ aggregator: FLARE_AGG, aggregatorArgs: { expected_data_kind: "WEIGHT_DIFF" }, answer: plusOne(() => "DIFF") });
  assert.equal(diff.outcome, undefined, String(diff.outcome));
  assert.deepEqual(diff.final, { shape: [3, 3], values: expected }, "a DIFF round adds the mean DIFF to the global model");
  // Flat arrays (Cohort's own models) too: this is the case that completed with a wrong model before.
  const flat = await run({ aggregator: "cohort.WeightedAggregator", flat: true, answer: plusOne(() => "DIFF") });
  assert.deepEqual(flat.final, { shape: [9], values: expected });
  // Cohort's aggregator without an expected kind: the round's first result decides.
  const open = await run({ aggregator: "cohort.WeightedAggregator", answer: plusOne(() => "DIFF") });
  assert.deepEqual(open.final, { shape: [3, 3], values: expected });
});

test("the model keeps its tensor shape on the way to the sites and into the persistor", async () => {
  const r = await run({ aggregator: "cohort.WeightedAggregator", answer: plusOne(() => "FULL") });
  assert.ok(r.tasks.length > 0);
  for (const t of r.tasks) assert.deepEqual(t.shape, [3, 3], `${t.task} to ${t.site} carries a 3×3 tensor`);
});

test("a result of the other kind is refused with a named reason (expected_data_kind, or mixing FULL and DIFF in a round)", async () => {
  // FLARE's aggregator defaults to WEIGHT_DIFF, as in FLARE: FULL models are refused and the reason says how to fix it.
  const flareDefault = await run({ aggregator: FLARE_AGG, answer: plusOne(() => "FULL") });
  assert.equal(flareDefault.outcome?.code, "ERR_WORKFLOW_TOO_FEW_RESULTS");
  assert.match(
    flareDefault.outcome?.message ?? "",
    /params_type FULL, but the aggregator's expected_data_kind is WEIGHT_DIFF \(DIFF\); send DIFF or change expected_data_kind/,
  );
  assert.ok(flareDefault.warnings.some((w) => /update from site-1 .*refused/.test(w)));
  // One round, one kind: site-2's DIFF after site-1's FULL is refused, naming both.
  const mixed = await run({
    aggregator: "cohort.WeightedAggregator",
    workflowArgs: { min_clients: 1 },
    answer: plusOne((site) => (site === "site-1" ? "FULL" : "DIFF")),
  });
  assert.equal(mixed.outcome, undefined, "min_clients 1: the round goes on with the first kind");
  assert.ok(
    mixed.warnings.some((w) => /params_type (DIFF|FULL), but this round's first update was (FULL|DIFF): one round cannot mix FULL models and DIFFs/.test(w)),
    mixed.warnings.join("\n"),
  );
  assert.deepEqual(
    mixed.final?.values,
    INITIAL.map((x) => x + 3),
    "either kind alone gives +1 per round",
  );
});

test("HE aggregation refuses DIFF results with the reason", async () => {
  const r = await run({ aggregator: "cohort.HEAggregator", answer: plusOne(() => "DIFF") });
  assert.ok(r.outcome, "the job fails: no acceptable update");
  assert.ok(
    r.warnings.some((w) => /params_type DIFF: HE aggregation here sums encrypted FULL models/.test(w)),
    r.warnings.join("\n"),
  );
});

test("FLARE's ScatterAndGather sends no task after the last round; Cohort's evaluates the final model", async () => {
  const flare = await run({ aggregator: "cohort.WeightedAggregator", answer: plusOne(() => "FULL") });
  assert.deepEqual([...new Set(flare.tasks.map((t) => t.task))], ["train"]);
  const cohort = await run({ workflow: "cohort.ScatterAndGather", aggregator: "cohort.WeightedAggregator", answer: plusOne(() => "FULL") });
  assert.deepEqual([...new Set(cohort.tasks.map((t) => t.task))], ["train", "validate"]);
});

test("FLARE's FedAvg (ModelController): FULL and DIFF give the same model; no task after the last round; a failed site stops the job unless ignore_result_error", async () => {
  const FEDAVG = "nvflare.app_common.workflows.fedavg.FedAvg";
  const expected = INITIAL.map((x) => x + 3);
  for (const kind of ["FULL", "DIFF"] as const) {
    const r = await run({ workflow: FEDAVG, workflowArgs: { num_clients: 2 }, aggregator: "cohort.WeightedAggregator", answer: plusOne(() => kind) });
    assert.equal(r.outcome, undefined, String(r.outcome));
    assert.deepEqual(r.final, { shape: [3, 3], values: expected }, kind);
    assert.deepEqual([...new Set(r.tasks.map((t) => t.task))], ["train"]);
    assert.equal(r.tasks.length, 6, "2 sites × 3 rounds");
  }
  const failing: Answer = (site, received, task) => {
    if (site === "site-2") throw new Error("out of memory");
    return plusOne(() => "FULL")(site, received, task);
  };
  const stopped = await run({ workflow: FEDAVG, workflowArgs: { num_clients: 2 }, aggregator: "cohort.WeightedAggregator", answer: failing });
  assert.match(stopped.outcome?.message ?? "", /site-2: .*out of memory \(set ignore_result_error to go on without a failed site\)/);
  const ignored = await run({
    workflow: FEDAVG,
    workflowArgs: { num_clients: 2, ignore_result_error: true },
    aggregator: "cohort.WeightedAggregator",
    answer: failing,
  });
  assert.equal(ignored.outcome, undefined);
  assert.deepEqual(ignored.final?.values, expected, "site-1 alone carries the rounds");
});
