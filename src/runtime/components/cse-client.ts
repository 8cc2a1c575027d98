/**
 * FLARE's ccwf CrossSiteEvalClientController (cse_client_ctl.py), the site side of cross-site
 * evaluation without a model at the server:
 * - config: answers with the names of the global models its persistor holds (FLARE's inventory),
 *   when it may be the global model client;
 * - share_model: gets the named model (a global one from the persistor; its own through the app's
 *   `submit_model` task, once, as FLARE caches it) and sends it to each evaluator the server named,
 *   as a sealed peer message (the site process applies its result filters to it on the way out);
 * - eval: takes the model from its owner only (or from itself), checks it against the persistor's
 *   model (names and sizes), evaluates it with the app's `validate` task and answers with metrics.
 */
import { z } from "zod";
import { CohortError } from "../../errors/index.js";
import { decode, encode, FLModel, type WireRecord } from "../../wire/index.js";
import { flattenParams } from "../aggregation/index.js";
import { type CseModelRef, cseModelKey, cseModelTopic, type CseResult, cseTaskSchema } from "./cse-protocol.js";
import { numericMetrics } from "./metrics-log.js";
import { type GlobalModelPersistor, isModelInventory } from "./persistor.js";
import type { ClientJobContext, Executor } from "./registry.js";
import { WorkflowErrorCode } from "./errors.js";

export const cseClientArgs = z.object({
  task_name_prefix: z.string().default("cse"),
  /** The app's task that returns this site's own model (FLARE's submit_model). */
  submit_model_task_name: z.string().min(1).default("submit_model"),
  /** The app's task that evaluates a model on this site's data. */
  validation_task_name: z.string().min(1).default("validate"),
  /** The persistor holding global models, and whose model shape received models must have. */
  persistor_id: z.string().min(1).default("persistor"),
  /** Seconds to wait for a model from its owner. */
  get_model_timeout: z.number().positive().max(86_400).default(60),
});
export type CseClientArgs = z.infer<typeof cseClientArgs>;

/** Element counts per parameter name (tensors and flat arrays alike); undefined for a value that is neither. */
function sizes(params: WireRecord): Map<string, number | undefined> {
  const { flat } = flattenParams(params);
  return new Map(Object.entries(flat).map(([k, v]) => [k, ArrayBuffer.isView(v) ? (v as unknown as ArrayLike<number>).length : undefined]));
}

export class CrossSiteEvalClientController implements Executor {
  private config: { evaluators: string[]; evaluatees: string[]; global_model_client: string } | undefined;
  /** Models this site hands out, by "type:name": each is got once (FLARE caches its local model). */
  private readonly own = new Map<string, Promise<Uint8Array>>();
  /** Per model round: the server said it will not come. */
  private readonly cancels = new Map<number, AbortController>();

  constructor(private readonly a: CseClientArgs) {}

  async execute(taskName: string, payload: Uint8Array, ctx: ClientJobContext): Promise<Uint8Array> {
    const parsed = cseTaskSchema.safeParse(decode(payload));
    if (!parsed.success)
      throw new CohortError(
        WorkflowErrorCode.BadTask,
        `task ${taskName} is not a cross-site evaluation task (${parsed.error.issues[0]?.message ?? "invalid"})`,
        {},
      );
    const t = parsed.data;
    let result: CseResult;
    if ("config" in t) {
      this.config = t.config;
      const mayHold = t.config.global_model_client === "" || t.config.global_model_client === ctx.site;
      result = { cse: 1, configured: { global_names: mayHold ? this.inventory(ctx) : [] } };
    } else if ("share" in t) {
      result = { cse: 1, shared: await this.share(t.share, ctx) };
    } else if ("evaluate" in t) {
      result = { cse: 1, evaluated: { metrics: await this.evaluate(t.evaluate, ctx) } };
    } else {
      this.cancel(t.cancel.round).abort(
        new CohortError(WorkflowErrorCode.BadResult, `the server reports ${cseModelKey(t.cancel)} will not come: ${t.cancel.reason}`, {}),
      );
      result = { cse: 1, cancelled: true };
    }
    return encode(result);
  }

  private cancel(round: number): AbortController {
    const c = this.cancels.get(round) ?? new AbortController();
    this.cancels.set(round, c);
    return c;
  }

  private persistor(ctx: ClientJobContext): unknown {
    try {
      return ctx.component(this.a.persistor_id);
    } catch {
      return undefined;
    }
  }

  private inventory(ctx: ClientJobContext): string[] {
    const p = this.persistor(ctx);
    return isModelInventory(p) ? p.modelInventory() : [];
  }

  /** The model this site owns under `ref`, encoded as it leaves (got once). */
  private ownModel(ref: CseModelRef, ctx: ClientJobContext): Promise<Uint8Array> {
    const key = `${ref.model_type}:${ref.model_name}`;
    let p = this.own.get(key);
    if (!p) {
      p = this.fetchOwnModel(ref, ctx);
      // A failure is not cached: the next request tries again.
      p.catch(() => this.own.delete(key));
      this.own.set(key, p);
    }
    return p;
  }

  private async fetchOwnModel(ref: CseModelRef, ctx: ClientJobContext): Promise<Uint8Array> {
    let params: WireRecord;
    if (ref.model_type === "global") {
      const p = this.persistor(ctx);
      if (!isModelInventory(p))
        throw new CohortError(WorkflowErrorCode.Config, `${ctx.site}: component ${JSON.stringify(this.a.persistor_id)} holds no global models`, {});
      params = p.modelNamed(ref.model_name);
    } else {
      if (this.config && !this.config.evaluatees.includes(ctx.site))
        throw new CohortError(WorkflowErrorCode.BadTask, `${ctx.site} is not an evaluatee of this job's cross-site evaluation`, {});
      const r = decode(await ctx.runTask(this.a.submit_model_task_name, encode(new FLModel({ params: {}, meta: { submit_model_name: ref.model_name } }))));
      if (!(r instanceof FLModel) || Object.keys(r.params).length === 0)
        throw new CohortError(WorkflowErrorCode.BadResult, `${ctx.site}'s ${this.a.submit_model_task_name} task returned no model parameters`, {});
      params = r.params;
    }
    return encode(new FLModel({ params, paramsType: "FULL", meta: { model_owner: ctx.site, model_type: ref.model_type, model_name: ref.model_name } }));
  }

  private async share(ref: CseModelRef & { to: string[] }, ctx: ClientJobContext): Promise<{ sent: string[]; failed: { site: string; reason: string }[] }> {
    // Only to the job's other sites, and only to evaluators when the server configured them.
    const strangers = ref.to.filter((s) => s === ctx.site || !ctx.sites.includes(s) || (this.config !== undefined && !this.config.evaluators.includes(s)));
    if (strangers.length > 0)
      throw new CohortError(
        WorkflowErrorCode.BadTask,
        `${ctx.site} sends ${cseModelKey(ref)} only to the job's other evaluating sites, not to ${strangers.map((s) => s.slice(0, 200)).join(", ")}`,
        {},
      );
    const bytes = await this.ownModel(ref, ctx);
    const timeoutMs = this.a.get_model_timeout * 1000;
    const sends = await Promise.allSettled(ref.to.map((s) => ctx.peers.send(s, cseModelTopic(ref.round), bytes, timeoutMs)));
    ctx.log(`cross-site: sent ${cseModelKey(ref)} to ${ref.to.filter((_s, i) => sends[i]?.status === "fulfilled").join(", ") || "no one"}`);
    return {
      sent: ref.to.filter((_s, i) => sends[i]?.status === "fulfilled"),
      failed: sends.flatMap((s, i) => (s.status === "rejected" ? [{ site: ref.to[i] as string, reason: (s.reason as Error).message.slice(0, 2000) }] : [])),
    };
  }

  private async evaluate(ref: CseModelRef, ctx: ClientJobContext): Promise<Record<string, number>> {
    try {
      const bytes =
        ref.model_owner === ctx.site
          ? await this.ownModel(ref, ctx)
          : await ctx.peers.receive(ref.model_owner, cseModelTopic(ref.round), this.a.get_model_timeout * 1000, this.cancel(ref.round).signal);
      const model = this.checked(bytes, ref, ctx);
      const r = decode(await ctx.runTask(this.a.validation_task_name, encode(model)));
      if (!(r instanceof FLModel))
        throw new CohortError(WorkflowErrorCode.BadResult, `${ctx.site}'s ${this.a.validation_task_name} task did not return an FLModel`, {});
      const metrics = numericMetrics(r);
      ctx.log(`cross-site: ${cseModelKey(ref)} here: ${JSON.stringify(metrics)}`);
      return metrics;
    } finally {
      this.cancels.delete(ref.round);
    }
  }

  /** A received model: an FLModel of FULL parameters shaped as this site's persistor's model. */
  private checked(bytes: Uint8Array, ref: CseModelRef, ctx: ClientJobContext): FLModel {
    const what = `${cseModelKey(ref)} from ${ref.model_owner}`;
    const m = decode(bytes);
    if (!(m instanceof FLModel) || m.paramsType === "DIFF" || Object.keys(m.params).length === 0)
      throw new CohortError(WorkflowErrorCode.BadResult, `${what} is not a model of full parameters`, {});
    const p = this.persistor(ctx) as Partial<GlobalModelPersistor> | undefined;
    const like = typeof p?.load === "function" ? sizes(p.load(false).params) : undefined;
    const got = sizes(m.params);
    for (const [name, n] of got) {
      if (n === undefined) throw new CohortError(WorkflowErrorCode.BadResult, `${what}: parameter ${JSON.stringify(name.slice(0, 200))} is not numeric`, {});
      if (like && like.get(name) !== n)
        throw new CohortError(
          WorkflowErrorCode.BadResult,
          `${what}: parameter ${JSON.stringify(name.slice(0, 200))} is ${like.has(name) ? `${n} values, this site's model has ${like.get(name)}` : "not in this site's model"}`,
          {},
        );
    }
    const missing = like ? [...like.keys()].filter((k) => !got.has(k)) : [];
    if (missing.length > 0) throw new CohortError(WorkflowErrorCode.BadResult, `${what} lacks ${missing.slice(0, 5).join(", ")}`, {});
    return new FLModel({
      params: m.params,
      paramsType: "FULL",
      meta: { model_owner: ref.model_owner, model_type: ref.model_type, model_name: ref.model_name },
    });
  }
}
