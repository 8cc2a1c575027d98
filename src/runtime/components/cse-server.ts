/**
 * FLARE's ccwf CrossSiteEvalServerController (cse_server_ctl.py): cross-site evaluation where the
 * server never holds a model. It configures the sites (who evaluates, whose models), learns from
 * their answers who holds global models (in a swarm job: the last round's aggregator), then for
 * each model in turn tells its owner to send it, sealed, to every evaluator and each evaluator to
 * evaluate it on its own data. Results reaching the server are metrics; the matrix is saved as
 * FLARE's `cross_site_val/cross_val_results.json`.
 */
import { z } from "zod";
import { CohortError } from "../../errors/index.js";
import { decode, encode, FLModel } from "../../wire/index.js";
import { runFolderName } from "./arg-schemas.js";
import { type CrossSiteMatrix, saveCrossSiteMatrix } from "./cross-site-eval.js";
import { cseModelKey, type CseModelRef, type CseResult, cseResultSchema, type CseTask } from "./cse-protocol.js";
import type { ServerJobContext, Workflow } from "./registry.js";
import { WorkflowErrorCode } from "./errors.js";

export const cseServerArgs = z.object({
  /** Tasks are `<prefix>_config`, `<prefix>_share_model`, `<prefix>_eval` (FLARE's `cse_*` pattern routes them). */
  task_name_prefix: z
    .string()
    .regex(/^[A-Za-z0-9_.-]{1,64}$/, "letters, digits, '_', '.', '-'")
    .default("cse"),
  /** Seconds one model's evaluation may take at an evaluator, getting the model included. */
  eval_task_timeout: z.number().positive().max(86_400).default(30),
  configure_task_timeout: z.number().positive().max(86_400).default(300),
  /** Sites taking part (default: every site of the job). */
  participating_clients: z.array(z.string()).nullable().optional(),
  /** Sites that evaluate (default: every participant). */
  evaluators: z.array(z.string()).nullable().optional(),
  /** Sites whose own (local) models are evaluated (default: every participant). */
  evaluatees: z.array(z.string()).nullable().optional(),
  /** The site whose global models are evaluated (default: any site that has some, e.g. the swarm's last aggregator). */
  global_model_client: z.string().nullable().optional(),
  eval_result_dir: runFolderName.default("cross_site_val"),
  // FLARE's arguments accepted for compatibility (Cohort pushes tasks and bounds each by its timeout).
  start_task_timeout: z.number().optional(),
  task_check_period: z.number().optional(),
  job_status_check_interval: z.number().optional(),
  progress_timeout: z.number().optional(),
  private_p2p: z.boolean().optional(),
  max_status_report_interval: z.number().optional(),
});
export type CseServerArgs = z.infer<typeof cseServerArgs>;

/** FLARE's ModelName.BEST_MODEL: the name a site's own model is asked for by. */
const LOCAL_MODEL_NAME = "best_model";

export class CrossSiteEvalServerController implements Workflow {
  constructor(private readonly a: CseServerArgs) {}

  private task(name: "config" | "share_model" | "eval"): string {
    return `${this.a.task_name_prefix}_${name}`;
  }

  /** `list` (default: all of `base`), checked against `base`: a name outside it is a config error, as in FLARE. */
  private pick(list: readonly string[] | null | undefined, base: readonly string[], arg: string): string[] {
    if (!list || list.length === 0) return [...base];
    const unknown = list.filter((s) => !base.includes(s));
    if (unknown.length > 0)
      throw new CohortError(WorkflowErrorCode.Config, `CrossSiteEvalServerController args.${arg}: ${unknown.join(", ")} not among ${base.join(", ")}`, {
        [arg]: unknown,
      });
    return [...new Set(list)].sort();
  }

  private async send(ctx: ServerJobContext, site: string, name: "config" | "share_model" | "eval", body: CseTask, timeoutS: number): Promise<CseResult> {
    const r = cseResultSchema.safeParse(decode(await ctx.sendTask(site, this.task(name), encode(body), timeoutS * 1000)));
    if (!r.success)
      throw new CohortError(WorkflowErrorCode.BadResult, `${site} answered ${this.task(name)} with something else (${r.error.issues[0]?.message})`, { site });
    return r.data;
  }

  async run(ctx: ServerJobContext): Promise<void> {
    const participants = this.pick(this.a.participating_clients, ctx.sites, "participating_clients");
    const evaluators = this.pick(this.a.evaluators, participants, "evaluators");
    const evaluatees = this.pick(this.a.evaluatees, participants, "evaluatees");
    const globalClient = this.a.global_model_client ?? "";
    if (globalClient && !participants.includes(globalClient))
      throw new CohortError(
        WorkflowErrorCode.Config,
        `CrossSiteEvalServerController args.global_model_client: ${globalClient} is not among ${participants.join(", ")}`,
        {},
      );

    // 1. Configure every participant; whoever holds global models names them.
    const config: CseTask = { cse: 1, config: { evaluators, evaluatees, global_model_client: globalClient } };
    const replies = await Promise.allSettled(participants.map((s) => this.send(ctx, s, "config", config, this.a.configure_task_timeout)));
    const failed = replies.flatMap((r, i) => (r.status === "rejected" ? [`${participants[i]}: ${(r.reason as Error).message}`] : []));
    if (failed.length > 0) throw new CohortError(WorkflowErrorCode.Config, `cross-site: configuring failed at ${failed.join("; ")}`, {});
    const models: Omit<CseModelRef, "round">[] = [];
    replies.forEach((r, i) => {
      const site = participants[i] as string;
      const names = r.status === "fulfilled" && "configured" in r.value ? r.value.configured.global_names : [];
      if (globalClient && site !== globalClient) return;
      for (const name of names) if (!models.some((m) => m.model_name === name)) models.push({ model_type: "global", model_name: name, model_owner: site });
    });
    if (globalClient && models.length === 0) ctx.warn(`cross-site: ${globalClient} has no global models to evaluate`);
    for (const owner of evaluatees) models.push({ model_type: "local", model_name: LOCAL_MODEL_NAME, model_owner: owner });
    if (models.length === 0) throw new CohortError(WorkflowErrorCode.Config, "cross-site: there are neither global models nor local models to evaluate", {});
    ctx.log(`cross-site: ${evaluators.length} evaluators, models ${models.map(cseModelKey).join(", ")}`);

    // 2. One model at a time: its owner sends it to the evaluators, which evaluate it.
    const matrix: CrossSiteMatrix = Object.fromEntries(evaluators.map((e) => [e, {}]));
    for (const [round, m] of models.entries()) {
      if (ctx.signal.aborted) return;
      await this.evaluateModel(ctx, { ...m, round }, evaluators, matrix);
    }
    saveCrossSiteMatrix(ctx, this.a.eval_result_dir, evaluators, models.map(cseModelKey), matrix);
  }

  private async evaluateModel(ctx: ServerJobContext, ref: CseModelRef, evaluators: readonly string[], matrix: CrossSiteMatrix): Promise<void> {
    const key = cseModelKey(ref);
    const receivers = evaluators.filter((e) => e !== ref.model_owner);
    // An evaluator told the model will not come stops waiting for it (instead of waiting out get_model_timeout).
    const cancel = (sites: readonly string[], reason: string): void => {
      for (const s of sites)
        this.send(ctx, s, "eval", { cse: 1, cancel: { ...ref, reason: reason.slice(0, 2000) } }, 30).catch((err: Error) =>
          ctx.warn(`cross-site: could not tell ${s} that ${key} will not come: ${err.message}`),
        );
    };
    const share =
      receivers.length === 0
        ? Promise.resolve()
        : this.send(ctx, ref.model_owner, "share_model", { cse: 1, share: { ...ref, to: receivers } }, this.a.eval_task_timeout).then(
            (r) => {
              const notSent = "shared" in r ? r.shared.failed : [];
              for (const f of notSent) ctx.warn(`cross-site: ${ref.model_owner} could not send ${key} to ${f.site}: ${f.reason}`);
              cancel(
                notSent.map((f) => f.site),
                `${ref.model_owner} could not send it`,
              );
            },
            (err: Error) => {
              ctx.warn(`cross-site: ${ref.model_owner} did not share ${key}: ${err.message}`);
              cancel(receivers, `${ref.model_owner} did not share it: ${err.message}`);
            },
          );
    await Promise.all([
      share,
      ...evaluators.map(async (site) => {
        const row = matrix[site] as CrossSiteMatrix[string];
        try {
          const r = await this.send(ctx, site, "eval", { cse: 1, evaluate: ref }, this.a.eval_task_timeout);
          if (!("evaluated" in r)) throw new CohortError(WorkflowErrorCode.BadResult, `${site} did not answer with metrics`, { site });
          row[key] = r.evaluated.metrics;
          ctx.recordMetrics?.(
            site,
            `${this.task("eval")} of ${key}`,
            new FLModel({ params: {}, metrics: r.evaluated.metrics, currentRound: ref.round, meta: {} }),
          );
        } catch (err) {
          row[key] = { error: (err as Error).message.slice(0, 500) };
          ctx.warn(`cross-site: ${site} could not evaluate ${key}: ${(err as Error).message}`);
        }
      }),
    ]);
  }
}
