import { z } from "zod";
import { confinementResourcesSchema } from "../sandbox/index.js";

/** A site's capacity from local/resources.json (FLARE's resource_manager args + max jobs). */
export const siteResourcesSchema = z
  .object({
    max_concurrent_jobs: z.number().int().min(1).default(2),
    components: z.array(z.object({ id: z.string().optional(), path: z.string().optional(), args: z.record(z.string(), z.unknown()).default({}) })).default([]),
    /** Folders a job may read besides its own (datasets); Cohort's key. */
    job_data_paths: z.array(z.string()).optional(),
    /** FLARE's component safety: allowed component paths or prefixes ("*" = all); absent = built-ins. */
    class_allow_list: z.array(z.string()).optional(),
    class_list_enforcement_mode: z.enum(["enforce", "warn"]).default("enforce"),
    /** Days after signing during which a job's manifest may be deployed here the first time (default 30). */
    job_manifest_max_age_days: z.number().positive().max(36_500).optional(),
    /** Site plugins: [{path, args}] (built-ins or local/custom modules). */
    plugins: z.unknown().optional(),
  })
  .extend(confinementResourcesSchema.shape);

export interface JobNeeds {
  readonly num_of_gpus?: number;
  readonly mem_per_gpu_in_GiB?: number;
}

/**
 * Reserves a site's GPUs and job slots for a job before it is deployed (FLARE's
 * GPUResourceManager): a job that does not fit is told why; unclaimed reservations expire.
 */
export class SiteResources {
  private readonly reservations = new Map<string, { gpus: number; until: number }>();

  constructor(
    private readonly capacity: { gpus: number; memPerGpuGiB: number; maxJobs: number },
    private readonly expirationMs = 300_000,
  ) {}

  check(jobId: string, needs: JobNeeds): { ok: boolean; reason?: string } {
    this.expire();
    if (this.reservations.has(jobId)) return { ok: true };
    const gpus = needs.num_of_gpus ?? 0;
    const mem = needs.mem_per_gpu_in_GiB ?? 0;
    if (gpus > this.capacity.gpus) return { ok: false, reason: `needs ${gpus} GPUs, the site has ${this.capacity.gpus}` };
    if (gpus > 0 && mem > this.capacity.memPerGpuGiB)
      return { ok: false, reason: `needs ${mem} GiB per GPU, the site's GPUs have ${this.capacity.memPerGpuGiB}` };
    const used = [...this.reservations.values()].reduce((n, r) => n + r.gpus, 0);
    if (gpus > this.capacity.gpus - used) return { ok: false, reason: `needs ${gpus} GPUs, ${this.capacity.gpus - used} free now` };
    if (this.reservations.size >= this.capacity.maxJobs)
      return { ok: false, reason: `the site already runs ${this.reservations.size} jobs (max_concurrent_jobs ${this.capacity.maxJobs})` };
    this.reservations.set(jobId, { gpus, until: Date.now() + this.expirationMs });
    return { ok: true };
  }

  /** A deployed job holds its reservation until it ends. */
  claim(jobId: string): void {
    const r = this.reservations.get(jobId);
    if (r) r.until = Number.POSITIVE_INFINITY;
    else this.reservations.set(jobId, { gpus: 0, until: Number.POSITIVE_INFINITY });
  }

  release(jobId: string): void {
    this.reservations.delete(jobId);
  }

  private expire(): void {
    const now = Date.now();
    for (const [id, r] of this.reservations) if (r.until < now) this.reservations.delete(id);
  }
}
