/**
 * FLARE's CrossSiteModelEval: every site submits its own last trained model (`submit_model`),
 * then every site evaluates every site's model and the server's global model on its own data
 * (`validate`). The matrix {validating site: {model: metrics}} — FLARE's layout — is saved in the
 * run folder as `cross_site_val/cross_val_results.json` (downloaded with the job's results) and
 * written to the server log.
 */
import { existsSync, mkdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { z } from "zod";
import { CohortError } from "../../errors/index.js";
import { writeFileAtomic as writeDurable } from "../../pki/index.js";
import { decode, encode, FLModel } from "../../wire/index.js";
import type { ServerJobContext, Workflow } from "./registry.js";
import { WorkflowErrorCode } from "./errors.js";

export const crossSiteArgs = z.object({
  submit_model_timeout: z.number().min(0).default(600),
  validation_timeout: z.number().min(0).default(6000),
  submit_model_task_name: z.string().default("submit_model"),
  validation_task_name: z.string().default("validate"),
  /** Sites whose models are evaluated and which evaluate (default: all the job's sites). */
  participating_clients: z.array(z.string()).optional(),
  /** Evaluate the server's global model too (the run folder's models/global_model.cohort, if any). */
  evaluate_global_model: z.boolean().default(true),
  /** The name of the server model in the matrix. */
  global_model_name: z.string().default("SRV_global_model"),
  // FLARE arguments accepted for compatibility (Cohort keeps the models in memory).
  model_locator_id: z.string().optional(),
  formatter_id: z.string().optional(),
  cleanup_models: z.boolean().optional(),
  wait_for_clients_timeout: z.number().optional(),
});
export type CrossSiteArgs = z.infer<typeof crossSiteArgs>;

export type CrossSiteMatrix = Record<string, Record<string, Record<string, number> | { error: string }>>;

const seconds = (s: number): number => (s > 0 ? s * 1000 : 24 * 3600 * 1000);

export class CrossSiteModelEval implements Workflow {
  constructor(private readonly a: CrossSiteArgs) {}

  async run(ctx: ServerJobContext): Promise<void> {
    const sites = [...(this.a.participating_clients ?? ctx.sites)].filter((s) => ctx.sites.includes(s)).sort();
    const models = new Map<string, Uint8Array>();
    // 1. Each site's own model.
    await Promise.all(
      sites.map(async (site) => {
        try {
          const r = decode(
            await ctx.sendTask(site, this.a.submit_model_task_name, encode(new FLModel({ params: {}, meta: {} })), seconds(this.a.submit_model_timeout)),
          );
          if (!(r instanceof FLModel) || Object.keys(r.params).length === 0)
            throw new CohortError(WorkflowErrorCode.BadResult, `${site} submitted no model parameters`, { site });
          models.set(site, encode(new FLModel({ params: r.params, paramsType: "FULL", meta: { model_owner: site } })));
        } catch (err) {
          ctx.warn(`cross-site: ${site} did not submit its model: ${(err as Error).message}`);
        }
      }),
    );
    // 2. The server's global model, when an earlier workflow of this job left one.
    const globalFile = join(ctx.runDir, "models", "global_model.cohort");
    if (this.a.evaluate_global_model && existsSync(globalFile)) {
      const g = decode(readFileSync(globalFile));
      if (g instanceof FLModel)
        models.set(this.a.global_model_name, encode(new FLModel({ params: g.params, paramsType: "FULL", meta: { model_owner: this.a.global_model_name } })));
    }
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
            row[owner] = Object.fromEntries(
              Object.entries(r.metrics ?? {}).filter((e): e is [string, number] => typeof e[1] === "number" && Number.isFinite(e[1])),
            );
          } catch (err) {
            row[owner] = { error: (err as Error).message.slice(0, 500) };
            ctx.warn(`cross-site: ${site} could not evaluate ${owner}'s model: ${(err as Error).message}`);
          }
        }
      }),
    );
    const sorted: CrossSiteMatrix = Object.fromEntries(sites.map((s) => [s, matrix[s] ?? {}]));
    const dir = join(ctx.runDir, "cross_site_val");
    mkdirSync(dir, { recursive: true });
    // Job children run with fsync disabled (permission model): write-and-rename only.
    writeDurable(join(dir, "cross_val_results.json"), `${JSON.stringify(sorted, null, 2)}\n`, 0o644, { fsync: false });
    for (const site of sites) {
      const cells = owners.map((o) => {
        const c = sorted[site]?.[o];
        return `${o}=${c && "accuracy" in c ? (c.accuracy as number).toFixed(4) : c && "error" in c ? "error" : "-"}`;
      });
      ctx.log(`cross-site: ${site} evaluated ${cells.join(" ")}`);
    }
    ctx.log(`cross-site: matrix saved to cross_site_val/cross_val_results.json`);
  }
}
