/**
 * FLARE's widgets (server and site components that follow a job rather than drive it), as
 * Cohort's job host offers them: round metrics and site values (ServerJobListener).
 * - IntimeModelSelector: tracks the best global model by `key_metric` (or its negation) and records
 *   it in `<run>/models/best_global_model.json`, logging each new best.
 * - TBAnalyticsReceiver: writes every value a site logged (SummaryWriter.add_scalar, flare.log …)
 *   to TensorBoard event files `<run>/<tb_folder>/<site>/events.out.tfevents.*`.
 * - ConvertToFedEvent (site): values logged during a task always travel to the server with the
 *   result here, so it has nothing left to convert; accepted so FLARE's job folders run unchanged.
 * - ValidationJsonGenerator: Cohort's cross-site evaluation writes FLARE's
 *   `cross_site_val/cross_val_results.json` itself; other folders or names are refused.
 */
import { appendFileSync, mkdirSync } from "node:fs";
import { hostname } from "node:os";
import { basename, join } from "node:path";
import { z } from "zod";
import { runFolderName } from "./arg-schemas.js";
import { CohortError } from "../../errors/index.js";
import { writeFileAtomic as writeDurable } from "../../pki/index.js";
import type { MetricEntry } from "./metrics-log.js";
import type { JobContextBase, ServerJobListener } from "./registry.js";
import { fileVersionRecord, scalarRecord } from "./tfevents.js";
import { WorkflowErrorCode } from "./errors.js";

export const modelSelectorArgs = z.object({
  key_metric: z.string().min(1).max(64).default("accuracy"),
  negate_key_metric: z.boolean().default(false),
  // FLARE's arguments for its own event-based averaging: Cohort's workflows report the weighted round metrics.
  weigh_by_local_iter: z.boolean().optional(),
  aggregation_weights: z.record(z.string(), z.number()).nullable().optional(),
  validation_metric_name: z.string().optional(),
});

export class IntimeModelSelector implements ServerJobListener {
  private best: number | undefined;

  constructor(
    private readonly a: z.infer<typeof modelSelectorArgs>,
    private readonly ctx: JobContextBase,
  ) {}

  onRoundMetrics(round: number, metrics: Readonly<Record<string, number>>): void {
    const raw = metrics[this.a.key_metric];
    if (raw === undefined) return;
    const score = this.a.negate_key_metric ? -raw : raw;
    if (this.best !== undefined && score <= this.best) return;
    this.best = score;
    const dir = join(this.ctx.runDir, "models");
    mkdirSync(dir, { recursive: true });
    writeDurable(join(dir, "best_global_model.json"), `${JSON.stringify({ round, [this.a.key_metric]: raw }, null, 2)}\n`, 0o644, { fsync: false });
    this.ctx.log(`new best global model at round ${round}: ${this.a.key_metric} ${raw}`);
  }
}

export const tbReceiverArgs = z.object({
  tb_folder: runFolderName.default("tb_events"),
  events: z.array(z.string()).optional(),
});

export class TBAnalyticsReceiver implements ServerJobListener {
  private readonly files = new Map<string, string>();

  constructor(
    private readonly a: z.infer<typeof tbReceiverArgs>,
    private readonly ctx: JobContextBase,
  ) {}

  onMetric(e: MetricEntry): void {
    // FLARE's receiver gets the analytics a script streams (its SummaryWriter), not result metrics.
    if (e.source !== "log") return;
    const now = Date.now() / 1000;
    let file = this.files.get(e.site);
    if (!file) {
      // Site names were checked at login (letters, digits, '-', '_', '.'), so each is a folder name.
      const dir = join(this.ctx.runDir, this.a.tb_folder, basename(e.site));
      mkdirSync(dir, { recursive: true });
      file = join(dir, `events.out.tfevents.${Math.floor(now)}.${hostname()}`);
      appendFileSync(file, fileVersionRecord(now));
      this.files.set(e.site, file);
    }
    appendFileSync(file, scalarRecord(e.key, e.value, e.step ?? e.round ?? 0, now));
  }
}

export const convertToFedEventArgs = z.object({
  events_to_convert: z.array(z.string()).optional(),
  fed_event_prefix: z.string().optional(),
});

export const validationJsonArgs = z.object({
  results_dir: z.literal("cross_site_val", { message: "Cohort's cross-site evaluation writes cross_site_val/ (FLARE's default)" }).default("cross_site_val"),
  json_file_name: z
    .literal("cross_val_results.json", { message: "Cohort's cross-site evaluation writes cross_val_results.json (FLARE's default)" })
    .default("cross_val_results.json"),
});

/** Parses a widget's args with the component named in the refusal. */
/** A FLARE component Cohort accepts without arguments. */
export const noArgs = z.object({}).strict();

export function widgetArgs<T>(schema: z.ZodType<T>, name: string, args: Record<string, unknown>): T {
  const r = schema.safeParse(args);
  if (r.success) return r.data;
  const issue = r.error.issues[0];
  throw new CohortError(WorkflowErrorCode.Config, `${name} args.${issue?.path.join(".") ?? ""}: ${issue?.message ?? "invalid"}`, { component: name });
}
