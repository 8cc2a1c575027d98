/**
 * FLARE's SwarmClientController (flare-digest §11.5), the site side of swarm learning. For each
 * round task from the server:
 * 1. take the previous round's model (from its aggregator, a sealed peer message; round 0: the
 *    site's persistor's initial model, the same at every site for the same seed);
 * 2. train through the app's learn task (`ctx.runTask`, so the site's and the job's filters apply
 *    to the update before it leaves) and send the update to the round's aggregator;
 * 3. if this site aggregates: fold the trainers' updates (weighted by their sample counts), check
 *    the new model on the site's own data, send it to every participant (not after the last round:
 *    the final model stays here) and save it with the site's persistor.
 * The server only gets metrics back.
 */
import { z } from "zod";
import { CohortError } from "../../errors/index.js";
import { decode, encode, FLModel, type WireRecord } from "../../wire/index.js";
import { aggregatorArgs, ModelAggregator, type RoundAggregator } from "./aggregator.js";
import { numericMetrics } from "./metrics-log.js";
import { flattenParams, restoreShapes, type TensorShapes } from "../aggregation/index.js";
import type { GlobalModelPersistor } from "./persistor.js";
import type { ClientJobContext, Executor } from "./registry.js";
import { swarmModelTopic, swarmNoticeSchema, swarmRoundTaskSchema, swarmUpdateTopic, type SwarmRoundResult, type SwarmRoundTask } from "./swarm-protocol.js";
import { WorkflowErrorCode } from "./errors.js";

export const swarmClientArgs = z.object({
  /** The app's training task, run locally (its executor is configured for this task name). */
  learn_task_name: z.string().default("train"),
  /** The app's evaluation task, run on a new model at its aggregator (none configured: no metrics). */
  validate_task_name: z.string().default("validate"),
  persistor_id: z.string().default("persistor"),
  /** An aggregator component (default: the built-in weighted aggregator). */
  aggregator_id: z.string().optional(),
  /** Updates the aggregator needs to make a model (0: every trainer's that is still in the round). */
  min_responses_required: z.number().int().min(0).default(0),
  /** Seconds to wait for a peer's update or for the previous round's model. */
  peer_timeout: z.number().positive().max(86_400).default(300),
  // FLARE's arguments accepted for compatibility.
  shareable_generator_id: z.string().optional(),
  wait_time_after_min_resps_received: z.number().optional(),
  learn_task_timeout: z.number().optional(),
});
export type SwarmClientArgs = z.infer<typeof swarmClientArgs>;

type Params = Record<string, Float32Array>;

/** A received model or update, checked against the current model's names and sizes. */
function modelFrom(bytes: Uint8Array, what: string, like: Params): { model: FLModel; params: Params } {
  const m = decode(bytes);
  if (!(m instanceof FLModel)) throw new CohortError(WorkflowErrorCode.BadResult, `${what} is not an FLModel`, {});
  // A numpy model's parameters travel as tensors: their data is checked against the flat model.
  const got = flattenParams(m.params).flat as Record<string, unknown>;
  const params: Params = {};
  for (const [name, cur] of Object.entries(like)) {
    const v = got[name];
    if (!(v instanceof Float32Array) || v.length !== cur.length)
      throw new CohortError(
        WorkflowErrorCode.BadResult,
        `${what}: parameter ${JSON.stringify(name)} is ${v instanceof Float32Array ? `${v.length} values, expected ${cur.length}` : "missing or not float32"}`,
        { name },
      );
    if (m.paramsType === "DIFF") {
      const sum = new Float32Array(cur.length);
      for (let i = 0; i < cur.length; i++) sum[i] = (cur[i] as number) + (v[i] as number);
      params[name] = sum;
    } else params[name] = v;
  }
  return { model: m, params };
}

export class SwarmClientController implements Executor {
  /**
   * The model this site trains from and where it came from: round -1 is the persistor's initial
   * model; otherwise the round, attempt and aggregator that made it. A model this site aggregated
   * is only a candidate until the server names it as the next round's source: an attempt the
   * server saw fail (and retried elsewhere) must not become this site's model.
   */
  private current: { round: number; attempt: number; aggregator: string; params: Params } | undefined;
  private readonly candidates = new Map<string, Params>();
  /** Tensor shapes of the persistor's model (numpy models): given back wherever a model leaves this controller. */
  private shapes: TensorShapes = {};
  /** The newest round this site has started (older notices and candidates are dropped). */
  private latestRound = -1;

  constructor(private readonly a: SwarmClientArgs) {}

  /** Trainers the server reported failed, per round attempt ("round.attempt"): waiting for their updates ends at once. */
  private readonly failed = new Map<string, Map<string, AbortController>>();

  private failure(round: number, attempt: number, site: string): AbortController {
    const key = `${round}.${attempt}`;
    const perRound = this.failed.get(key) ?? new Map<string, AbortController>();
    this.failed.set(key, perRound);
    const f = perRound.get(site) ?? new AbortController();
    perRound.set(site, f);
    return f;
  }

  private shaped(params: Params): WireRecord {
    return restoreShapes(params, this.shapes);
  }

  async execute(taskName: string, payload: Uint8Array, ctx: ClientJobContext): Promise<Uint8Array> {
    const decoded = decode(payload);
    const notice = swarmNoticeSchema.safeParse(decoded);
    if (notice.success) {
      const n = notice.data.notice;
      // A notice for a round already behind this site changes nothing (and would never be cleared).
      if (n.round < this.latestRound) return encode({ ok: true });
      this.failure(n.round, n.attempt, n.site).abort(
        new CohortError(WorkflowErrorCode.BadResult, `the server reports ${n.site}'s round failed: ${n.reason}`, { site: n.site }),
      );
      return encode({ ok: true });
    }
    const parsed = swarmRoundTaskSchema.safeParse(decoded);
    if (!parsed.success)
      throw new CohortError(WorkflowErrorCode.BadTask, `task ${taskName} is not a swarm round (${parsed.error.issues[0]?.message ?? "invalid"})`, {});
    const t = parsed.data;
    this.latestRound = Math.max(this.latestRound, t.round);
    for (const k of [...this.failed.keys()]) if (Number(k.split(".")[0]) < t.round) this.failed.delete(k);
    // Late updates and models of earlier rounds or abandoned attempts would sit in the inbox for good.
    ctx.peers.discard?.((_from, topic) => {
      const m = /^swarm\.(update|model)\.(\d+)\.(\d+)$/.exec(topic);
      if (!m) return false;
      const r = Number(m[2]);
      if (m[1] === "update") return r < t.round;
      return r < t.round - 1 || (r === t.round - 1 && t.previous !== undefined && Number(m[3]) !== t.previous.attempt);
    });
    const timeoutMs = this.a.peer_timeout * 1000;
    const params = await this.modelFor(t, ctx, timeoutMs);
    let metrics: Record<string, number> = {};
    if (t.trainers.includes(ctx.site)) {
      const task = encode(new FLModel({ params: this.shaped(params), paramsType: "FULL", currentRound: t.round, totalRounds: t.total_rounds, meta: {} }));
      let update: Uint8Array;
      try {
        update = await ctx.runTask(this.a.learn_task_name, task);
        metrics = numericMetrics(modelFrom(update, `${ctx.site}'s own ${this.a.learn_task_name} result`, params).model);
      } catch (err) {
        // The aggregator hears at once that no update is coming, instead of waiting for it.
        await ctx.peers
          .send(t.aggregator, swarmUpdateTopic(t.round, t.attempt), encode({ swarm_error: (err as Error).message.slice(0, 2000) }), timeoutMs)
          .catch(() => undefined);
        throw err;
      }
      await ctx.peers.send(t.aggregator, swarmUpdateTopic(t.round, t.attempt), update, timeoutMs);
    }
    if (t.aggregator !== ctx.site) {
      const result: SwarmRoundResult = { role: "trainer", metrics };
      return encode(result);
    }
    return encode(await this.aggregate(t, params, ctx, timeoutMs));
  }

  /** The model this round starts from: the one the server names as the previous round's result. */
  private async modelFor(t: SwarmRoundTask, ctx: ClientJobContext, timeoutMs: number): Promise<Params> {
    const initial = (): Params => {
      const { flat, shapes } = flattenParams(ctx.component<GlobalModelPersistor>(this.a.persistor_id).load(false).params);
      this.shapes = shapes;
      return flat;
    };
    const prev = t.previous;
    if (t.round === 0 || !prev) {
      if (this.current?.round !== -1) this.current = { round: -1, attempt: 0, aggregator: "", params: initial() };
      return this.current.params;
    }
    const c = this.current;
    if (c && c.round === t.round - 1 && c.attempt === prev.attempt && c.aggregator === prev.aggregator) return c.params;
    const key = `${t.round - 1}.${prev.attempt}`;
    let params: Params | undefined;
    if (prev.aggregator === ctx.site) {
      params = this.candidates.get(key);
      if (!params)
        throw new CohortError(
          WorkflowErrorCode.BadTask,
          `${ctx.site} is named as the aggregator of round ${t.round} (attempt ${prev.attempt + 1}) but holds no model from it`,
          { round: t.round },
        );
    } else {
      const like = c?.params ?? initial();
      const bytes = await ctx.peers.receive(prev.aggregator, swarmModelTopic(t.round - 1, prev.attempt), timeoutMs);
      params = modelFrom(bytes, `the round ${t.round} model from ${prev.aggregator}`, like).params;
    }
    this.current = { round: t.round - 1, attempt: prev.attempt, aggregator: prev.aggregator, params };
    for (const k of [...this.candidates.keys()]) if (Number(k.split(".")[0]) < t.round) this.candidates.delete(k);
    return params;
  }

  private async aggregate(t: SwarmRoundTask, global: Params, ctx: ClientJobContext, timeoutMs: number): Promise<SwarmRoundResult> {
    const aggregator = this.a.aggregator_id ? ctx.component<RoundAggregator>(this.a.aggregator_id) : new ModelAggregator(aggregatorArgs.parse({}));
    aggregator.reset(global);
    const topic = swarmUpdateTopic(t.round, t.attempt);
    const missing: { site: string; reason: string }[] = [];
    // Trainers known to be out of the round (the server reported their task failed, or they said
    // they could not train) are not required by the default min_responses_required (0).
    let out = 0;
    await Promise.all(
      t.trainers.map(async (site) => {
        try {
          const bytes = await ctx.peers.receive(site, topic, timeoutMs, this.failure(t.round, t.attempt, site).signal);
          const failed = decode(bytes) as { swarm_error?: unknown };
          if (typeof failed?.swarm_error === "string") {
            out++;
            throw new CohortError(WorkflowErrorCode.BadResult, `${site} could not train: ${failed.swarm_error}`, { site });
          }
          const { model, params } = modelFrom(bytes, `${site}'s update`, global);
          const weight = Number(model.meta["NUM_STEPS_CURRENT_ROUND"] ?? 1);
          // modelFrom has already added a DIFF to the model it came from: every update here is a FULL model.
          await aggregator.submit({ site, params, weight: Number.isFinite(weight) && weight > 0 ? weight : 1, paramsType: "FULL" });
        } catch (err) {
          if (this.failure(t.round, t.attempt, site).signal.aborted) out++;
          missing.push({ site, reason: (err as Error).message });
        }
      }),
    );
    this.failed.delete(`${t.round}.${t.attempt}`);
    const r = aggregator.result();
    const rejected = [...missing, ...r.rejected];
    const needed = this.a.min_responses_required || Math.max(1, t.trainers.length - out);
    if (r.accepted.length < needed) {
      throw new CohortError(
        WorkflowErrorCode.TooFewResults,
        `${ctx.site}: ${r.accepted.length} of ${t.trainers.length} updates usable for round ${t.round + 1}, ${needed} required (${rejected.map((x) => `${x.site}: ${x.reason}`).join("; ")})`,
        { round: t.round },
      );
    }
    const last = t.round === t.total_rounds - 1;
    const metrics = await this.validate(t, r.params, ctx);
    // Every other participant gets the new model for the next round; after the last round it stays here.
    if (!last) {
      const bytes = encode(
        new FLModel({ params: this.shaped(r.params), paramsType: "FULL", currentRound: t.round, totalRounds: t.total_rounds, meta: { aggregator: ctx.site } }),
      );
      const sends = await Promise.allSettled(
        t.participants.filter((s) => s !== ctx.site).map((s) => ctx.peers.send(s, swarmModelTopic(t.round, t.attempt), bytes, timeoutMs)),
      );
      sends.forEach((s, i) => {
        if (s.status === "rejected")
          ctx.warn(
            `swarm round ${t.round + 1}: the new model did not reach ${t.participants.filter((p) => p !== ctx.site)[i]}: ${(s.reason as Error).message}`,
          );
      });
    }
    this.candidates.set(`${t.round}.${t.attempt}`, r.params);
    const persistor = ctx.component<GlobalModelPersistor>(this.a.persistor_id);
    if (last) persistor.finish(this.shaped(r.params), metrics);
    else persistor.save(t.round, this.shaped(r.params));
    ctx.log(`swarm round ${t.round + 1}/${t.total_rounds}: aggregated ${r.accepted.join(", ")}${last ? "; the final model is kept here" : ""}`);
    return { role: "aggregator", metrics, contributors: [...r.accepted].sort(), rejected };
  }

  /** The new model on this site's own data (its app's validate task), if it has one. */
  private async validate(t: SwarmRoundTask, params: Params, ctx: ClientJobContext): Promise<Record<string, number>> {
    try {
      const r = await ctx.runTask(
        this.a.validate_task_name,
        encode(new FLModel({ params: this.shaped(params), paramsType: "FULL", currentRound: t.round, totalRounds: t.total_rounds, meta: {} })),
      );
      const m = decode(r);
      return m instanceof FLModel ? numericMetrics(m) : {};
    } catch (err) {
      ctx.warn(`swarm round ${t.round + 1}: ${this.a.validate_task_name} of the new model failed: ${(err as Error).message}`);
      return {};
    }
  }
}
