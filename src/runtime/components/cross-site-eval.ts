/**
 * FLARE's CrossSiteModelEval: every site submits its own last trained model (`submit_model`; an
 * empty task name skips this, as in FLARE), then every site evaluates every site's model and the
 * server's models on its own data (`validate`). The server's models are the model locator's
 * (`model_locator_id`, FLARE's names `SRV_<name>`) when the job has one, else the global model an
 * earlier workflow left (`models/global_model.cohort`). The matrix {validating site: {model:
 * metrics}} — FLARE's layout — is saved in the run folder as `cross_site_val/cross_val_results.json`
 * (downloaded with the job's results) and written to the server log, also as the `formatter_id`
 * component formats it.
 */
import { existsSync, mkdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { z } from "zod";
import { CohortError } from "../../errors/index.js";
import { writeFileAtomic as writeDurable } from "../../pki/index.js";
import { decode, encode, FLModel, type WireRecord } from "../../wire/index.js";
import { numericMetrics } from "./metrics-log.js";
import type { ServerJobContext, Workflow } from "./registry.js";
import { WorkflowErrorCode } from "./errors.js";

export const crossSiteArgs = z.object({
  submit_model_timeout: z.number().min(0).default(600),
  validation_timeout: z.number().min(0).default(6000),
  submit_model_task_name: z.string().default("submit_model"),
  validation_task_name: z.string().default("validate"),
  /** Sites whose models are evaluated and which evaluate (default: all the job's sites). */
  participating_clients: z.array(z.string()).optional(),
  /** Without a model locator: evaluate the server's global model too (the run folder's models/global_model.cohort, if any). */
  evaluate_global_model: z.boolean().default(true),
  /** Without a model locator: the name of the server model in the matrix. */
  global_model_name: z.string().default("SRV_global_model"),
  /** A model locator component (FLARE's ModelLocator, e.g. NPModelLocator): the server's models to evaluate. */
  model_locator_id: z.string().optional(),
  /** A formatter component (NPFormatter): the matrix as it formats it, in the server log. */
  formatter_id: z.string().optional(),
  // FLARE arguments accepted for compatibility (Cohort keeps the models in memory).
  cleanup_models: z.boolean().optional(),
  wait_for_clients_timeout: z.number().optional(),
});
export type CrossSiteArgs = z.infer<typeof crossSiteArgs>;

export type CrossSiteMatrix = Record<string, Record<string, Record<string, number> | { error: string }>>;

/** FLARE's ModelLocator as CrossSiteModelEval uses it: the server's models, by name. */
export interface ServerModelLocator {
  getModelNames(): string[];
  /** The named model's parameters; throws with the reason when it cannot be read. */
  locateModel(name: string): WireRecord;
}

/** FLARE's Formatter: the results as text for people. */
export interface CrossSiteFormatter {
  format(matrix: CrossSiteMatrix): string;
}

/** FLARE prefixes the names of the server's models (cross_site_model_eval.py, `_locate_server_models`). */
export const SERVER_MODEL_PREFIX = "SRV_";

const seconds = (s: number): number => (s > 0 ? s * 1000 : 24 * 3600 * 1000);

/** The component `id` names, checked to be what `is` accepts (FLARE stops the job when it is not). */
function componentOf<T>(ctx: ServerJobContext, arg: string, id: string, is: (c: unknown) => c is T, what: string): T {
  const c = ctx.component(id);
  if (!is(c)) throw new CohortError(WorkflowErrorCode.Config, `CrossSiteModelEval args.${arg}: component ${JSON.stringify(id)} is not ${what}`, { [arg]: id });
  return c;
}
const hasMethods =
  <T>(...names: string[]) =>
  (c: unknown): c is T =>
    typeof c === "object" && c !== null && names.every((n) => typeof (c as Record<string, unknown>)[n] === "function");
const isLocator = hasMethods<ServerModelLocator>("getModelNames", "locateModel");
const isFormatter = hasMethods<CrossSiteFormatter>("format");

export class CrossSiteModelEval implements Workflow {
  constructor(private readonly a: CrossSiteArgs) {}

  async run(ctx: ServerJobContext): Promise<void> {
    const sites = [...(this.a.participating_clients ?? ctx.sites)].filter((s) => ctx.sites.includes(s)).sort();
    const formatter = this.a.formatter_id ? componentOf(ctx, "formatter_id", this.a.formatter_id, isFormatter, "a formatter (NPFormatter)") : undefined;
    // The server's models first: a model the locator cannot read stops the job before any site is asked.
    const serverModels = this.a.model_locator_id ? this.locatedModels(ctx, this.a.model_locator_id) : this.globalModel(ctx);
    const clash = [...serverModels.keys()].find((name) => ctx.sites.includes(name));
    if (clash) throw new CohortError(WorkflowErrorCode.Config, `cross-site: the server's model ${clash} has a site's name`, { model: clash });
    const models = new Map<string, Uint8Array>();
    // 1. Each site's own model (FLARE: an empty submit_model_task_name evaluates the server's models only).
    if (this.a.submit_model_task_name) await this.collectSiteModels(ctx, sites, this.a.submit_model_task_name, models);
    // 2. The server's models, after the sites'.
    for (const [name, params] of serverModels) models.set(name, encode(new FLModel({ params, paramsType: "FULL", meta: { model_owner: name } })));
    if (ctx.signal.aborted) return;
    const owners = [...models.keys()];
    ctx.log(`cross-site: evaluating ${owners.length} models (${owners.join(", ")}) at ${sites.length} sites`);
    // 3. Every site evaluates every model, one at a time per site, sites in parallel.
    const matrix: CrossSiteMatrix = {};
    await Promise.all(
      sites.map(async (site) => {
        const row: CrossSiteMatrix[string] = {};
        matrix[site] = row;
        for (const owner of owners) {
          if (ctx.signal.aborted) return;
          try {
            const r = decode(await ctx.sendTask(site, this.a.validation_task_name, models.get(owner) as Uint8Array, seconds(this.a.validation_timeout)));
            if (!(r instanceof FLModel))
              throw new CohortError(WorkflowErrorCode.BadResult, `${site} answered ${this.a.validation_task_name} with something that is not an FLModel`, {
                site,
              });
            ctx.recordMetrics?.(site, `${this.a.validation_task_name} of ${owner}'s model`, r);
            row[owner] = numericMetrics(r);
          } catch (err) {
            row[owner] = { error: (err as Error).message.slice(0, 500) };
            ctx.warn(`cross-site: ${site} could not evaluate ${owner}'s model: ${(err as Error).message}`);
          }
        }
      }),
    );
    saveCrossSiteMatrix(ctx, "cross_site_val", sites, owners, matrix, formatter);
  }

  private async collectSiteModels(ctx: ServerJobContext, sites: readonly string[], taskName: string, models: Map<string, Uint8Array>): Promise<void> {
    await Promise.all(
      sites.map(async (site) => {
        try {
          const r = decode(await ctx.sendTask(site, taskName, encode(new FLModel({ params: {}, meta: {} })), seconds(this.a.submit_model_timeout)));
          if (!(r instanceof FLModel) || Object.keys(r.params).length === 0)
            throw new CohortError(WorkflowErrorCode.BadResult, `${site} submitted no model parameters`, { site });
          models.set(site, encode(new FLModel({ params: r.params, paramsType: "FULL", meta: { model_owner: site } })));
        } catch (err) {
          ctx.warn(`cross-site: ${site} did not submit its model: ${(err as Error).message}`);
        }
      }),
    );
  }

  /** The locator's models, named as FLARE names them (`SRV_<name>`). */
  private locatedModels(ctx: ServerJobContext, id: string): Map<string, WireRecord> {
    const locator = componentOf(ctx, "model_locator_id", id, isLocator, "a model locator (NPModelLocator)");
    const out = new Map<string, WireRecord>();
    for (const name of locator.getModelNames()) out.set(`${SERVER_MODEL_PREFIX}${name}`, locator.locateModel(name));
    ctx.log(`cross-site: server models from ${id}: ${[...out.keys()].join(", ") || "none"}`);
    return out;
  }

  /** Without a locator: the server's global model, when an earlier workflow of this job left one. */
  private globalModel(ctx: ServerJobContext): Map<string, WireRecord> {
    const globalFile = join(ctx.runDir, "models", "global_model.cohort");
    if (!this.a.evaluate_global_model || !existsSync(globalFile)) return new Map();
    const g = decode(readFileSync(globalFile));
    return g instanceof FLModel ? new Map([[this.a.global_model_name, g.params]]) : new Map();
  }
}

/**
 * Saves the matrix {evaluating site: {model: metrics}} — FLARE's layout — as
 * `<run>/<dir>/cross_val_results.json` (downloaded with the job's results) and writes one line per
 * evaluating site to the job log, and the matrix as `formatter` formats it.
 */
export function saveCrossSiteMatrix(
  ctx: ServerJobContext,
  dirName: string,
  sites: readonly string[],
  owners: readonly string[],
  matrix: CrossSiteMatrix,
  formatter?: CrossSiteFormatter,
): void {
  const sorted: CrossSiteMatrix = Object.fromEntries(sites.map((s) => [s, matrix[s] ?? {}]));
  const dir = join(ctx.runDir, dirName);
  mkdirSync(dir, { recursive: true });
  // Job children run with fsync disabled (permission model): write-and-rename only.
  writeDurable(join(dir, "cross_val_results.json"), `${JSON.stringify(sorted, null, 2)}\n`, 0o644, { fsync: false });
  for (const site of sites) {
    const cells = owners.map((o) => {
      const c = sorted[site]?.[o];
      if (!c || "error" in c) return `${o}=${c ? "error" : "-"}`;
      const [key, value] = "accuracy" in c ? ["accuracy", c.accuracy] : (Object.entries(c)[0] ?? ["-", undefined]);
      return `${o}=${value === undefined ? "-" : key === "accuracy" ? value.toFixed(4) : `${key} ${value}`}`;
    });
    ctx.log(`cross-site: ${site} evaluated ${cells.join(" ")}`);
  }
  ctx.log(`cross-site: matrix saved to ${dirName}/cross_val_results.json`);
  if (formatter) ctx.log(`cross-site: ${formatter.format(sorted)}`);
}
