import { z } from "zod";
import { CohortError, isCohortError } from "../../errors/index.js";
import { encode, FLModel } from "../../wire/index.js";
import { broadcastAndGather, NO_LIMIT_MS, type SiteResult } from "./gather.js";
import { applyAggregate, flattenParams, paramsTypeOf, restoreShapes } from "../aggregation/index.js";
import type { ServerJobContext, Workflow } from "./registry.js";
import type { GlobalModelPersistor } from "./persistor.js";
import type { RoundAggregator } from "./aggregator.js";
import { WorkflowErrorCode } from "./errors.js";

/** FLARE's ScatterAndGather arguments (seconds; 0 = no limit). */
export const scatterAndGatherArgs = z.object({
  min_clients: z.number().int().min(1).default(1),
  num_rounds: z.number().int().min(1).default(5),
  start_round: z.number().int().min(0).default(0),
  wait_time_after_min_received: z.number().min(0).default(10),
  train_timeout: z.number().min(0).default(0),
  aggregator_id: z.string().default("aggregator"),
  persistor_id: z.string().default("persistor"),
  shareable_generator_id: z.string().optional(),
  train_task_name: z.string().default("train"),
  validate_task_name: z.string().default("validate"),
  ignore_result_error: z.boolean().default(false),
  allow_empty_global_weights: z.boolean().optional(),
  task_check_period: z.number().optional(),
});
export type ScatterAndGatherArgs = z.infer<typeof scatterAndGatherArgs>;

/** Options that differ between Cohort's ScatterAndGather and FLARE's (same arguments). */
export interface ScatterAndGatherOptions {
  /**
   * After the last round, evaluate the final global model at every site (`validate_task_name`).
   * Cohort's own workflow does; FLARE's ScatterAndGather sends no such task.
   */
  readonly finalValidation: boolean;
}

/**
 * FedAvg (FLARE's ScatterAndGather), event-driven: each round sends the global model to every
 * site, folds results into the aggregator as they arrive, closes the round once `min_clients`
 * answered and either all did or `wait_time_after_min_received` passed, and drops sites that
 * fail or time out from that round only. A round's results are all FULL models or all DIFFs (the
 * aggregator refuses the other kind); a DIFF round adds the mean DIFF to the model it came from.
 * Site metrics (the received global model evaluated on the site's held-out share) give each
 * round's global accuracy. The persistor saves every round.
 */
export class ScatterAndGather implements Workflow {
  constructor(
    private readonly a: ScatterAndGatherArgs,
    private readonly o: ScatterAndGatherOptions = { finalValidation: true },
  ) {}

  async run(ctx: ServerJobContext): Promise<void> {
    const persistor = ctx.component<GlobalModelPersistor>(this.a.persistor_id);
    const aggregator = ctx.component<RoundAggregator>(this.a.aggregator_id);
    const loaded = persistor.load(ctx.resume);
    const { flat: initial, shapes } = flattenParams(loaded.params);
    let params = initial;
    const first = ctx.resume && loaded.round !== undefined ? loaded.round + 1 : this.a.start_round;
    if (ctx.resume) ctx.log(`resuming at round ${first + 1} of ${this.a.num_rounds}`);
    let lastRound = first - 1;
    let lastMetrics: Record<string, number> = {};
    for (let round = first; round < this.a.num_rounds; round++) {
      if (ctx.signal.aborted) return;
      const task = encode(
        new FLModel({ params: restoreShapes(params, shapes), paramsType: "FULL", currentRound: round, totalRounds: this.a.num_rounds, meta: {} }),
      );
      const results = await this.gather(ctx, this.a.train_task_name, task);
      if (ctx.signal.aborted) return;
      aggregator.reset(params);
      for (const r of results) {
        const weight = Number(r.model.meta["NUM_STEPS_CURRENT_ROUND"] ?? r.model.meta["num_samples"] ?? 1);
        try {
          const update = flattenParams(r.model.params).flat;
          await aggregator.submit({ site: r.site, params: update, weight, paramsType: paramsTypeOf(r.model.paramsType) });
        } catch (err) {
          if (!isCohortError(err)) throw err;
          ctx.warn(`round ${round + 1}: update from ${r.site} rejected: ${err.message}`);
        }
      }
      const agg = aggregator.result();
      if (agg.accepted.length < this.a.min_clients) {
        throw new CohortError(
          WorkflowErrorCode.TooFewResults,
          `round ${round + 1}: ${agg.accepted.length === 0 ? "no update was accepted" : `${agg.accepted.length} acceptable updates (${agg.accepted.join(", ")})`}, min_clients is ${this.a.min_clients}${agg.rejected.length ? `; refused: ${agg.rejected.map((x) => `${x.site}: ${x.reason}`).join("; ")}` : ""}`,
          {
            round,
            rejected: agg.rejected,
          },
        );
      }
      // Metrics in this round's results describe the model the sites received: report them for
      // the previous round's global model.
      if (round > 0) lastMetrics = this.report(ctx, round - 1, results);
      params = applyAggregate(params, agg.params, agg.paramsType);
      persistor.save(round, restoreShapes(params, shapes));
      lastRound = round;
      ctx.log(
        `round ${round + 1}/${this.a.num_rounds} aggregated from ${agg.accepted.join(", ")}${agg.rejected.length ? `; rejected ${agg.rejected.map((x) => x.site).join(", ")}` : ""}${agg.paramsType === "DIFF" ? " (DIFFs, added to the global model)" : ""}`,
      );
    }
    if (!this.o.finalValidation) {
      persistor.finish(restoreShapes(params, shapes), lastMetrics);
      return;
    }
    // Evaluate the final global model at every site.
    const final = encode(
      new FLModel({ params: restoreShapes(params, shapes), paramsType: "FULL", currentRound: this.a.num_rounds, totalRounds: this.a.num_rounds, meta: {} }),
    );
    const evals = await this.gather(ctx, this.a.validate_task_name, final);
    const metrics = this.report(ctx, lastRound, evals);
    persistor.finish(restoreShapes(params, shapes), metrics);
  }

  /** Weighted mean of the sites' metrics (by their evaluation sample counts); persists the best. */
  private report(ctx: ServerJobContext, round: number, results: readonly SiteResult[]): Record<string, number> {
    const sums: Record<string, number> = {};
    let total = 0;
    for (const r of results) {
      const n = Number(r.model.meta["eval_samples"] ?? 1);
      total += n;
      for (const [k, v] of Object.entries(r.model.metrics ?? {})) if (typeof v === "number" && Number.isFinite(v)) sums[k] = (sums[k] ?? 0) + v * n;
    }
    const metrics = Object.fromEntries(Object.entries(sums).map(([k, v]) => [k, total > 0 ? v / total : 0]));
    ctx.progress(round + 1, this.a.num_rounds, metrics, results.map((r) => r.site).sort());
    ctx.component<GlobalModelPersistor>(this.a.persistor_id).noteMetrics(round, metrics);
    return metrics;
  }

  /** Sends a task to every site; resolves with the results of this round. */
  private gather(ctx: ServerJobContext, taskName: string, payload: Uint8Array): Promise<SiteResult[]> {
    return broadcastAndGather(ctx, {
      sites: ctx.sites,
      taskName,
      payload,
      timeoutMs: this.a.train_timeout > 0 ? this.a.train_timeout * 1000 : NO_LIMIT_MS,
      minResponses: this.a.min_clients,
      waitAfterMinMs: this.a.wait_time_after_min_received * 1000,
    });
  }
}
