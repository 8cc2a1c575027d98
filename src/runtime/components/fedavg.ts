/**
 * FLARE's modern FedAvg (`nvflare.app_common.workflows.fedavg.FedAvg`, a ModelController): each
 * round sends the global model to `num_clients` sites chosen at random among the job's, folds the
 * results as they arrive (weighted by NUM_STEPS_CURRENT_ROUND × aggregation_weights), applies the
 * round's aggregate (FULL replaces the model, DIFF is added to it; the first result decides and a
 * result of the other kind is refused), averages the sites' metrics, and saves the model every
 * round — or, with `stop_cond` ("accuracy >= 0.9"), when it is the best so far, stopping early
 * when the condition holds or after `patience` rounds without improvement. No task is sent after
 * the last round.
 */
import { z } from "zod";
import { CohortError, isCohortError } from "../../errors/index.js";
import { encode, FLModel, type WireRecord } from "../../wire/index.js";
import { applyAggregate, flattenParams, paramsTypeOf, restoreShapes, type Params } from "../aggregation/index.js";
import { ModelAggregator } from "./aggregator.js";
import { broadcastAndGather, NO_LIMIT_MS, type SiteResult } from "./gather.js";
import type { GlobalModelPersistor } from "./persistor.js";
import type { ServerJobContext, Workflow } from "./registry.js";
import { tensorFromNested } from "./np-persistor.js";
import { WorkflowErrorCode } from "./errors.js";

const STOP_COND = /^\s*([A-Za-z_][\w.-]*)\s*(>=|<=|>|<|==)\s*(-?\d+(?:\.\d+)?(?:e-?\d+)?)\s*$/;

export const fedAvgArgs = z.object({
  /** Sites sampled each round (FLARE's num_clients; older versions: min_clients). All when more than the job has. */
  num_clients: z.number().int().min(1).optional(),
  min_clients: z.number().int().min(1).optional(),
  num_rounds: z.number().int().min(1).default(5),
  start_round: z.number().int().min(0).default(0),
  persistor_id: z.string().default("persistor"),
  /** Initial parameters by name (nested lists), used instead of the persistor's. */
  model: z.record(z.string(), z.unknown()).nullable().optional(),
  task_name: z.string().default("train"),
  train_task_name: z.string().optional(),
  train_timeout: z.number().min(0).default(0),
  wait_time_after_min_received: z.number().min(0).default(0),
  stop_cond: z.string().regex(STOP_COND, 'must be "<metric> <op> <value>" with op one of >=, <=, >, <, ==, e.g. "accuracy >= 0.9"').nullable().optional(),
  patience: z.number().int().min(1).nullable().optional(),
  aggregation_weights: z.record(z.string(), z.number()).nullable().optional(),
  /** Parameters matching this regular expression keep the global value (not aggregated). */
  exclude_vars: z.string().max(1000).nullable().optional(),
  ignore_result_error: z.boolean().default(false),
  persist_every_n_rounds: z.number().int().min(0).default(1),
  // FLARE's arguments that change nothing here.
  save_filename: z.string().nullable().optional(),
  stream_to_disk: z.boolean().optional(),
  task_check_period: z.number().optional(),
  allow_empty_global_weights: z.boolean().optional(),
  aggregator: z.null().optional(),
});
export type FedAvgArgs = z.infer<typeof fedAvgArgs>;

type Compare = (a: number, b: number) => boolean;
const OPS: Record<string, Compare> = { ">=": (a, b) => a >= b, "<=": (a, b) => a <= b, ">": (a, b) => a > b, "<": (a, b) => a < b, "==": (a, b) => a === b };

export class FedAvg implements Workflow {
  private readonly stop: { key: string; op: Compare; target: number } | undefined;
  private readonly exclude: RegExp | undefined;

  constructor(private readonly a: FedAvgArgs) {
    const m = a.stop_cond ? STOP_COND.exec(a.stop_cond) : null;
    this.stop = m ? { key: m[1] as string, op: OPS[m[2] as string] as Compare, target: Number(m[3]) } : undefined;
    try {
      this.exclude = a.exclude_vars ? new RegExp(a.exclude_vars) : undefined;
    } catch (err) {
      throw new CohortError(WorkflowErrorCode.Config, `FedAvg args.exclude_vars is not a regular expression: ${(err as Error).message}`, {
        field: "exclude_vars",
      });
    }
  }

  async run(ctx: ServerJobContext): Promise<void> {
    const persistor = this.a.persistor_id ? ctx.component<GlobalModelPersistor>(this.a.persistor_id) : undefined;
    const initial = this.initialModel(persistor, ctx.resume);
    const { flat, shapes } = flattenParams(initial.params);
    let params = flat;
    let best: number | undefined;
    let sinceBest = 0;
    let lastMetrics: Record<string, number> = {};
    const first = initial.round !== undefined ? initial.round + 1 : this.a.start_round;
    const end = this.a.start_round + this.a.num_rounds;
    const taskName = this.a.train_task_name ?? this.a.task_name;
    for (let round = first; round < end; round++) {
      if (ctx.signal.aborted) return;
      const sites = this.sample(ctx.sites);
      const task = encode(new FLModel({ params: restoreShapes(params, shapes), paramsType: "FULL", currentRound: round, totalRounds: end, meta: {} }));
      const failures: string[] = [];
      const results = await broadcastAndGather(ctx, {
        sites,
        taskName,
        payload: task,
        timeoutMs: this.a.train_timeout > 0 ? this.a.train_timeout * 1000 : NO_LIMIT_MS,
        minResponses: sites.length,
        waitAfterMinMs: this.a.wait_time_after_min_received * 1000,
        onFailure: (site, err) => {
          failures.push(`${site}: ${err.message}`);
          ctx.warn(`round ${round + 1}: ${taskName} at ${site} failed${this.a.ignore_result_error ? ", ignored (ignore_result_error)" : ""}: ${err.message}`);
        },
      });
      if (ctx.signal.aborted) return;
      // FLARE's FedAvg stops the job on a failed result unless ignore_result_error is set.
      if (failures.length > 0 && !this.a.ignore_result_error)
        throw new CohortError(
          WorkflowErrorCode.TooFewResults,
          `round ${round + 1}: ${failures.join("; ")} (set ignore_result_error to go on without a failed site)`,
          { round },
        );
      const agg = await this.aggregate(ctx, round, params, results);
      params = this.keepExcluded(params, applyAggregate(params, agg.params, agg.paramsType));
      lastMetrics = this.metrics(results);
      ctx.progress(round + 1, end, lastMetrics, agg.accepted);
      ctx.log(`round ${round + 1}/${end} aggregated from ${agg.accepted.join(", ")}${agg.paramsType === "DIFF" ? " (DIFFs, added to the global model)" : ""}`);
      if (this.stop) {
        const value = lastMetrics[this.stop.key];
        if (value !== undefined && (best === undefined || this.stop.op(value, best))) {
          best = value;
          sinceBest = 0;
          persistor?.save(round, restoreShapes(params, shapes));
          persistor?.noteMetrics(round, lastMetrics);
        } else sinceBest++;
        if (value !== undefined && this.stop.op(value, this.stop.target)) {
          ctx.log(`stop condition ${this.a.stop_cond} holds at round ${round + 1}: stopping`);
          break;
        }
        if (this.a.patience && sinceBest >= this.a.patience) {
          ctx.log(`${sinceBest} rounds without improvement (patience ${this.a.patience}): stopping`);
          break;
        }
      } else if (this.shouldPersist(round, end)) {
        persistor?.save(round, restoreShapes(params, shapes));
        persistor?.noteMetrics(round, lastMetrics);
      }
    }
    // With a stop condition the persistor holds the best model; without, the last one.
    if (!this.stop) persistor?.finish(restoreShapes(params, shapes), lastMetrics);
  }

  private initialModel(persistor: GlobalModelPersistor | undefined, resume: boolean): { params: WireRecord; round?: number } {
    if (this.a.model && !(resume && persistor)) {
      const params: WireRecord = {};
      for (const [name, value] of Object.entries(this.a.model)) params[name] = tensorFromNested(value, `FedAvg args.model.${name}`);
      return { params };
    }
    if (!persistor)
      throw new CohortError(WorkflowErrorCode.Config, "FedAvg needs an initial model: give args.model or a persistor_id naming a persistor component", {
        field: "persistor_id",
      });
    return persistor.load(resume);
  }

  private sample(sites: readonly string[]): string[] {
    const n = this.a.num_clients ?? this.a.min_clients ?? sites.length;
    const shuffled = [...sites];
    for (let i = shuffled.length - 1; i > 0; i--) {
      const j = Math.floor(Math.random() * (i + 1));
      [shuffled[i], shuffled[j]] = [shuffled[j] as string, shuffled[i] as string];
    }
    return shuffled.slice(0, Math.min(n, shuffled.length)).sort();
  }

  private async aggregate(ctx: ServerJobContext, round: number, params: Params, results: readonly SiteResult[]) {
    const aggregator = new ModelAggregator({ max_staged: 2, ...(this.a.aggregation_weights ? { aggregation_weights: this.a.aggregation_weights } : {}) });
    aggregator.reset(params);
    for (const r of results) {
      const steps = Number(r.model.meta["NUM_STEPS_CURRENT_ROUND"] ?? 1);
      try {
        await aggregator.submit({
          site: r.site,
          params: this.withoutExcluded(params, flattenParams(r.model.params).flat, paramsTypeOf(r.model.paramsType)),
          weight: Number.isFinite(steps) && steps > 0 ? steps : 1,
          paramsType: paramsTypeOf(r.model.paramsType),
        });
      } catch (err) {
        if (!isCohortError(err)) throw err;
        ctx.warn(`round ${round + 1}: update from ${r.site} rejected: ${err.message}`);
      }
    }
    const agg = aggregator.result();
    if (agg.accepted.length === 0)
      throw new CohortError(
        WorkflowErrorCode.TooFewResults,
        `round ${round + 1}: no update was accepted${agg.rejected.length ? `; refused: ${agg.rejected.map((x) => `${x.site}: ${x.reason}`).join("; ")}` : ""}`,
        { round, rejected: agg.rejected },
      );
    return agg;
  }

  /** Excluded parameters are sent back unchanged (FULL: the global value; DIFF: zero), so they average to no change. */
  private withoutExcluded(global: Params, update: Params, type: "FULL" | "DIFF"): Params {
    if (!this.exclude) return update;
    const out: Params = { ...update };
    for (const name of Object.keys(global))
      if (this.exclude.test(name)) out[name] = type === "FULL" ? (global[name] as Float32Array) : new Float32Array(global[name]?.length ?? 0);
    return out;
  }

  private keepExcluded(global: Params, next: Params): Params {
    if (!this.exclude) return next;
    const out: Params = { ...next };
    for (const name of Object.keys(global)) if (this.exclude.test(name)) out[name] = global[name] as Float32Array;
    return out;
  }

  /** FLARE's persist_every_n_rounds: every n-th round (0: none) and always the last. */
  private shouldPersist(round: number, end: number): boolean {
    const n = this.a.persist_every_n_rounds;
    return (n !== 0 && (round + 1) % n === 0) || round === end - 1;
  }

  /** The sites' metrics averaged, weighted by NUM_STEPS_CURRENT_ROUND, when every result has metrics (FLARE's rule). */
  private metrics(results: readonly SiteResult[]): Record<string, number> {
    if (results.length === 0 || results.some((r) => !r.model.metrics)) return {};
    const sums: Record<string, number> = {};
    let total = 0;
    for (const r of results) {
      const w = Number(r.model.meta["NUM_STEPS_CURRENT_ROUND"] ?? 1) || 1;
      total += w;
      for (const [k, v] of Object.entries(r.model.metrics ?? {})) if (typeof v === "number" && Number.isFinite(v)) sums[k] = (sums[k] ?? 0) + v * w;
    }
    return Object.fromEntries(Object.entries(sums).map(([k, v]) => [k, v / total]));
  }
}
