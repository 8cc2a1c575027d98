/**
 * FLARE's CyclicController: the model travels site to site through the server; each site trains
 * on the model the previous one returned. A round is one pass over the sites (fixed order, or a
 * fresh random order per round); the persistor saves the model after every round. A site that
 * fails or times out is skipped with a reason and the model goes on unchanged to the next one.
 */
import { randomInt } from "node:crypto";
import { z } from "zod";
import { CohortError } from "../../errors/index.js";
import { decode, encode, FLModel, type WireRecord } from "../../wire/index.js";
import { flattenParams, restoreShapes } from "../aggregation/index.js";
import type { ServerJobContext, Workflow } from "./registry.js";
import type { GlobalModelPersistor } from "./persistor.js";
import { WorkflowErrorCode } from "./errors.js";

export const cyclicArgs = z.object({
  num_rounds: z.number().int().min(1).default(5),
  /**
   * FLARE: seconds a site has to pick up its task. Cohort pushes the task over the site's open
   * connection at once (a site that is not connected fails the send and is skipped), so there is
   * no pick-up wait to bound: accepted, and never a limit on the training turn (FLARE's meaning).
   */
  task_assignment_timeout: z.number().min(0).default(10),
  /** Seconds a site may take for its turn, pick-up and training (0: no limit, FLARE's relay task has none). */
  task_timeout: z.number().min(0).default(0),
  order: z.enum(["fixed", "random"]).default("fixed"),
  persistor_id: z.string().default("persistor"),
  shareable_generator_id: z.string().optional(),
  task_name: z.string().default("train"),
  validate_task_name: z.string().default("validate"),
  /** Evaluate the final model at every site (metrics of the last round). */
  final_validation: z.boolean().default(true),
  /** A site may end the workflow early: its result's meta has `early_termination: true`. */
  allow_early_termination: z.boolean().default(false),
  persist_every_n_rounds: z.number().int().min(1).default(1),
  snapshot_every_n_rounds: z.number().int().optional(),
  task_check_period: z.number().optional(),
});
export type CyclicArgs = z.infer<typeof cyclicArgs>;

type Params = Record<string, Float32Array>;
const NO_LIMIT_MS = 24 * 3600 * 1000;

/** A DIFF result adds to the model it was computed from; FULL replaces it. */
function applyResult(current: Params, result: FLModel, site: string): Params {
  const names = Object.keys(current);
  // A numpy model's parameters come as tensors: their data, checked against the model's flat arrays.
  const got = flattenParams(result.params).flat as Record<string, unknown>;
  const next: Params = {};
  for (const name of names) {
    const v = got[name];
    const cur = current[name] as Float32Array;
    if (!(v instanceof Float32Array) || v.length !== cur.length) {
      throw new CohortError(
        WorkflowErrorCode.BadResult,
        `${site}: parameter ${JSON.stringify(name)} is ${v instanceof Float32Array ? `${v.length} values, expected ${cur.length}` : "missing or not float32"}`,
        { site, name },
      );
    }
    let finite = true;
    for (let i = 0; i < v.length && finite; i++) finite = Number.isFinite(v[i] as number);
    if (!finite)
      throw new CohortError(WorkflowErrorCode.BadResult, `${site}: parameter ${JSON.stringify(name)} has values that are not finite`, { site, name });
    if (result.paramsType === "DIFF") {
      const sum = new Float32Array(cur.length);
      for (let i = 0; i < cur.length; i++) sum[i] = (cur[i] as number) + (v[i] as number);
      next[name] = sum;
    } else next[name] = v;
  }
  return next;
}

export class CyclicController implements Workflow {
  constructor(private readonly a: CyclicArgs) {}

  private order(sites: readonly string[]): string[] {
    const out = [...sites].sort();
    if (this.a.order === "random") {
      for (let i = out.length - 1; i > 0; i--) {
        const j = randomInt(i + 1);
        [out[i], out[j]] = [out[j] as string, out[i] as string];
      }
    }
    return out;
  }

  async run(ctx: ServerJobContext): Promise<void> {
    const persistor = ctx.component<GlobalModelPersistor>(this.a.persistor_id);
    const loaded = persistor.load(ctx.resume);
    // Flat arrays here; tensors (a numpy persistor's model) get their shapes back on the way out.
    const { flat, shapes } = flattenParams(loaded.params);
    let params = flat;
    const shaped = (p: Params): WireRecord => restoreShapes(p, shapes);
    const first = ctx.resume && loaded.round !== undefined ? loaded.round + 1 : 0;
    if (ctx.resume) ctx.log(`cyclic: resuming at round ${first + 1} of ${this.a.num_rounds}`);
    const timeoutS = this.a.task_timeout;
    const timeoutMs = timeoutS > 0 ? timeoutS * 1000 : NO_LIMIT_MS;
    let lastRound = first - 1;
    let stopEarly = false;
    for (let round = first; round < this.a.num_rounds && !stopEarly; round++) {
      const order = this.order(ctx.sites);
      const trained: string[] = [];
      const sums: Record<string, number> = {};
      let weight = 0;
      for (const site of order) {
        if (ctx.signal.aborted) return;
        const task = encode(
          new FLModel({
            params: shaped(params),
            paramsType: "FULL",
            currentRound: round,
            totalRounds: this.a.num_rounds,
            meta: { cyclic_position: trained.length },
          }),
        );
        try {
          const result = decode(await ctx.sendTask(site, this.a.task_name, task, timeoutMs));
          if (!(result instanceof FLModel))
            throw new CohortError(WorkflowErrorCode.BadResult, `${site} answered ${this.a.task_name} with something that is not an FLModel`, { site });
          ctx.recordMetrics?.(site, this.a.task_name, result);
          params = applyResult(params, result, site);
          trained.push(site);
          // The site's metrics describe the model it received (the previous site's).
          const n = Number(result.meta["eval_samples"] ?? 1);
          for (const [k, v] of Object.entries(result.metrics ?? {})) if (typeof v === "number" && Number.isFinite(v)) sums[k] = (sums[k] ?? 0) + v * n;
          weight += n;
          ctx.log(`cyclic round ${round + 1}/${this.a.num_rounds}: ${site} trained the model (${trained.length}/${order.length})`);
          if (this.a.allow_early_termination && result.meta["early_termination"] === true) {
            ctx.log(`cyclic: ${site} asked to end early; stopping after round ${round + 1}`);
            stopEarly = true;
            break;
          }
        } catch (err) {
          if (ctx.signal.aborted) return;
          ctx.warn(`cyclic round ${round + 1}: ${site} skipped: ${(err as Error).message}`);
        }
      }
      if (trained.length === 0)
        throw new CohortError(
          WorkflowErrorCode.TooFewResults,
          `cyclic round ${round + 1}: no site returned a model (order ${order.join(", ")}); see the warnings above`,
          { round },
        );
      if ((round + 1) % this.a.persist_every_n_rounds === 0 || round === this.a.num_rounds - 1) persistor.save(round, shaped(params));
      lastRound = round;
      const metrics = Object.fromEntries(Object.entries(sums).map(([k, v]) => [k, weight > 0 ? v / weight : 0]));
      ctx.progress(round + 1, this.a.num_rounds, metrics, trained);
    }
    if (lastRound < first) return;
    persistor.save(lastRound, shaped(params));
    let metrics: Record<string, number> = {};
    if (this.a.final_validation) metrics = await this.validate(ctx, shaped(params), lastRound, timeoutMs);
    persistor.finish(shaped(params), metrics);
  }

  /** The final model at every site; reported as the last round's metrics (as FedAvg does). */
  private async validate(ctx: ServerJobContext, params: WireRecord, lastRound: number, timeoutMs: number): Promise<Record<string, number>> {
    const payload = encode(new FLModel({ params, paramsType: "FULL", currentRound: this.a.num_rounds, totalRounds: this.a.num_rounds, meta: {} }));
    const sums: Record<string, number> = {};
    let total = 0;
    const answered: string[] = [];
    await Promise.all(
      ctx.sites.map(async (site) => {
        try {
          const r = decode(await ctx.sendTask(site, this.a.validate_task_name, payload, timeoutMs));
          if (!(r instanceof FLModel))
            throw new CohortError(WorkflowErrorCode.BadResult, `${site} answered ${this.a.validate_task_name} with something that is not an FLModel`, { site });
          ctx.recordMetrics?.(site, this.a.validate_task_name, r);
          const n = Number(r.meta["eval_samples"] ?? 1);
          total += n;
          for (const [k, v] of Object.entries(r.metrics ?? {})) if (typeof v === "number" && Number.isFinite(v)) sums[k] = (sums[k] ?? 0) + v * n;
          answered.push(site);
        } catch (err) {
          ctx.warn(`cyclic: final ${this.a.validate_task_name} at ${site} failed: ${(err as Error).message}`);
        }
      }),
    );
    const metrics = Object.fromEntries(Object.entries(sums).map(([k, v]) => [k, total > 0 ? v / total : 0]));
    if (answered.length > 0) {
      ctx.progress(lastRound + 1, this.a.num_rounds, metrics, answered.sort());
      ctx.component<GlobalModelPersistor>(this.a.persistor_id).noteMetrics(lastRound, metrics);
    }
    return metrics;
  }
}
