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

/** FLARE's two resource managers, by their class paths (local/resources.json `components[id=resource_manager]`). */
export const GPU_RESOURCE_MANAGER = "nvflare.app_common.resource_managers.gpu_resource_manager.GPUResourceManager";
export const LIST_RESOURCE_MANAGER = "nvflare.app_common.resource_managers.list_resource_manager.ListResourceManager";

/** The key of a ListResourceManager list that holds GPU device ids (FLARE's sample: `{"gpu": [0, 1, 2, 3]}`). */
export const GPU_LIST_KEY = "gpu";
/** At most this many units in one list (a site has a few GPUs; a huge list is a mistake or an attack). */
export const MAX_RESOURCE_UNITS = 1024;
/** GPU device ids are the N of /dev/nvidiaN. */
export const MAX_GPU_ID = 255;

const FIX_GPU = 'fix: list GPU ids as whole numbers 0..255, each once, e.g. {"gpu": [0, 1]}';

const gpuManagerArgs = z
  .object({
    num_of_gpus: z
      .number()
      .int()
      .min(0)
      .max(MAX_GPU_ID + 1)
      .default(0),
    mem_per_gpu_in_GiB: z.number().min(0).default(0),
    num_gpu_key: z.string().optional(),
    gpu_mem_key: z.string().optional(),
    expiration_period: z.number().min(0).optional(),
  })
  .strict();

const unitSchema = z.union([z.number().int().min(0), z.string().min(1).max(256)]);
const listManagerArgs = z
  .object({
    resources: z
      .record(z.string().min(1).max(64), z.array(unitSchema).max(MAX_RESOURCE_UNITS, `at most ${MAX_RESOURCE_UNITS} units per list`))
      .refine((r) => Object.keys(r).length <= 64, "at most 64 lists"),
    expiration_period: z.number().min(0).optional(),
    /** Cohort's addition: the memory of each listed GPU, checked against a job's mem_per_gpu_in_GiB (unset: not checked). */
    mem_per_gpu_in_GiB: z.number().min(0).optional(),
  })
  .strict()
  .superRefine((a, ctx) => {
    for (const [key, units] of Object.entries(a.resources)) {
      const seen = new Set<string>();
      units.forEach((u, i) => {
        if (seen.has(String(u))) ctx.addIssue({ code: "custom", path: ["resources", key, i], message: `${JSON.stringify(u)} is listed twice`, input: u });
        seen.add(String(u));
        if (key === GPU_LIST_KEY && (typeof u !== "number" || u > MAX_GPU_ID))
          ctx.addIssue({ code: "custom", path: ["resources", key, i], message: `not a GPU id; ${FIX_GPU}`, input: u });
      });
    }
  });

/** What a site offers jobs: its GPUs by device id, other listed units, and job slots. */
export interface SiteCapacity {
  /** GPU device ids (GPUResourceManager: 0..num_of_gpus-1; ListResourceManager: its "gpu" list). */
  readonly gpuIds: readonly number[];
  /** Memory of each GPU in GiB; undefined: not known (a ListResourceManager without it), not checked. */
  readonly memPerGpuGiB: number | undefined;
  /** A ListResourceManager's other lists, by key. */
  readonly lists: Readonly<Record<string, readonly (number | string)[]>>;
  readonly maxJobs: number;
  /** The resource manager's class path, for reports. */
  readonly manager: string;
}

/** One problem of local/resources.json: the field (path as users write it), the value, the message. */
export interface ResourceProblem {
  readonly field: string;
  readonly value?: unknown;
  readonly message: string;
  readonly fix?: string;
}

const fieldOf = (path: readonly PropertyKey[]): string =>
  path.reduce<string>((out, p) => (typeof p === "number" ? `${out}[${p}]` : `${out}.${String(p)}`), "components[id=resource_manager].args");

/**
 * A site's capacity from its local/resources.json (FLARE's GPUResourceManager or
 * ListResourceManager); every problem at once. No resource_manager: no GPUs.
 */
export function siteCapacity(site: z.infer<typeof siteResourcesSchema> | undefined): { capacity: SiteCapacity; problems: ResourceProblem[] } {
  const maxJobs = site?.max_concurrent_jobs ?? 2;
  const rm = site?.components.find((c) => c.id === "resource_manager");
  const path = rm?.path ?? GPU_RESOURCE_MANAGER;
  const problems: ResourceProblem[] = [];
  const collect = (issues: readonly z.core.$ZodIssue[]): void => {
    for (const i of issues) problems.push({ field: fieldOf(i.path), ...("input" in i && i.input !== undefined ? { value: i.input } : {}), message: i.message });
  };
  const none: SiteCapacity = { gpuIds: [], memPerGpuGiB: 0, lists: {}, maxJobs, manager: path };
  if (path === LIST_RESOURCE_MANAGER || path.endsWith(".ListResourceManager") || path === "ListResourceManager") {
    const r = listManagerArgs.safeParse(rm?.args ?? {}, { reportInput: true });
    if (!r.success) {
      collect(r.error.issues);
      return { capacity: none, problems };
    }
    const { [GPU_LIST_KEY]: gpus = [], ...lists } = r.data.resources;
    return {
      capacity: { gpuIds: gpus.filter((g): g is number => typeof g === "number"), memPerGpuGiB: r.data.mem_per_gpu_in_GiB, lists, maxJobs, manager: path },
      problems,
    };
  }
  if (path !== GPU_RESOURCE_MANAGER && !path.endsWith(".GPUResourceManager") && path !== "GPUResourceManager") {
    problems.push({
      field: "components[id=resource_manager].path",
      value: path,
      message: "not a resource manager Cohort knows",
      fix: `use ${GPU_RESOURCE_MANAGER} or ${LIST_RESOURCE_MANAGER}`,
    });
    return { capacity: none, problems };
  }
  const r = gpuManagerArgs.safeParse(rm?.args ?? {}, { reportInput: true });
  if (!r.success) {
    collect(r.error.issues);
    return { capacity: none, problems };
  }
  const ids = Array.from({ length: r.data.num_of_gpus }, (_, i) => i);
  return { capacity: { gpuIds: ids, memPerGpuGiB: r.data.mem_per_gpu_in_GiB, lists: {}, maxJobs, manager: path }, problems };
}

/** A job's resource_spec for one site: FLARE's GPUResourceManager keys, or a ListResourceManager's list keys with a count. */
export type JobNeeds = Readonly<Record<string, unknown>> & {
  readonly num_of_gpus?: number;
  readonly mem_per_gpu_in_GiB?: number;
};

/** A count a job asks for: a whole number ≥ 0, or the reason it is not one. */
function countOf(key: string, v: unknown): number | string {
  if (v === undefined) return 0;
  if (typeof v !== "number" || !Number.isInteger(v) || v < 0 || v > MAX_RESOURCE_UNITS)
    return `resource_spec ${key} ${JSON.stringify(v)} is not a whole number 0..${MAX_RESOURCE_UNITS}`;
  return v;
}

interface Reservation {
  gpus: number[];
  units: Record<string, (number | string)[]>;
  until: number;
}

/**
 * Reserves a site's GPUs (by device id), listed units and job slots for a job before it is deployed
 * (FLARE's GPUResourceManager and ListResourceManager): a job that does not fit is told why;
 * unclaimed reservations expire. A deployed job's process sees only its reserved GPUs.
 */
export class SiteResources {
  private readonly reservations = new Map<string, Reservation>();
  private readonly capacity: SiteCapacity;

  constructor(
    capacity: SiteCapacity | { gpus: number; memPerGpuGiB: number; maxJobs: number },
    private readonly expirationMs = 300_000,
  ) {
    this.capacity =
      "gpuIds" in capacity
        ? capacity
        : {
            gpuIds: Array.from({ length: capacity.gpus }, (_, i) => i),
            memPerGpuGiB: capacity.memPerGpuGiB,
            lists: {},
            maxJobs: capacity.maxJobs,
            manager: GPU_RESOURCE_MANAGER,
          };
  }

  /** What this site offers (report_resources). */
  describe(): {
    gpus: readonly number[];
    mem_per_gpu_in_GiB: number | null;
    lists: Readonly<Record<string, readonly (number | string)[]>>;
    max_concurrent_jobs: number;
    resource_manager: string;
  } {
    const c = this.capacity;
    return { gpus: c.gpuIds, mem_per_gpu_in_GiB: c.memPerGpuGiB ?? null, lists: c.lists, max_concurrent_jobs: c.maxJobs, resource_manager: c.manager };
  }

  check(jobId: string, needs: JobNeeds): { ok: boolean; reason?: string } {
    this.expire();
    if (this.reservations.has(jobId)) return { ok: true };
    const c = this.capacity;
    const gpus = countOf("num_of_gpus", needs.num_of_gpus ?? needs[GPU_LIST_KEY]);
    if (typeof gpus === "string") return { ok: false, reason: gpus };
    const mem = needs.mem_per_gpu_in_GiB ?? 0;
    if (typeof mem !== "number" || !(mem >= 0)) return { ok: false, reason: `resource_spec mem_per_gpu_in_GiB ${JSON.stringify(mem)} is not a number ≥ 0` };
    if (gpus > c.gpuIds.length) return { ok: false, reason: `needs ${gpus} GPUs, the site has ${c.gpuIds.length}` };
    if (gpus > 0 && c.memPerGpuGiB !== undefined && mem > c.memPerGpuGiB)
      return { ok: false, reason: `needs ${mem} GiB per GPU, the site's GPUs have ${c.memPerGpuGiB}` };
    const held = [...this.reservations.values()];
    const freeGpus = c.gpuIds.filter((g) => !held.some((r) => r.gpus.includes(g)));
    if (gpus > freeGpus.length) return { ok: false, reason: `needs ${gpus} GPUs, ${freeGpus.length} free now` };
    const units: Record<string, (number | string)[]> = {};
    for (const [key, want] of Object.entries(needs)) {
      if (key === "num_of_gpus" || key === "mem_per_gpu_in_GiB" || key === GPU_LIST_KEY) continue;
      const n = countOf(key, want);
      if (typeof n === "string") return { ok: false, reason: n };
      if (n === 0) continue;
      const list = c.lists[key];
      if (!list) return { ok: false, reason: `needs ${n} of '${key}', the site lists none` };
      const free = list.filter((u) => !held.some((r) => r.units[key]?.includes(u)));
      if (n > free.length) return { ok: false, reason: `needs ${n} of '${key}', ${free.length} free now` };
      units[key] = free.slice(0, n);
    }
    if (this.reservations.size >= c.maxJobs)
      return { ok: false, reason: `the site already runs ${this.reservations.size} jobs (max_concurrent_jobs ${c.maxJobs})` };
    this.reservations.set(jobId, { gpus: freeGpus.slice(0, gpus), units, until: Date.now() + this.expirationMs });
    return { ok: true };
  }

  /** The GPU device ids reserved for a job (empty when it asked for none). */
  gpusOf(jobId: string): readonly number[] {
    return this.reservations.get(jobId)?.gpus ?? [];
  }

  /** A deployed job holds its reservation until it ends. */
  claim(jobId: string): void {
    const r = this.reservations.get(jobId);
    if (r) r.until = Number.POSITIVE_INFINITY;
    else this.reservations.set(jobId, { gpus: [], units: {}, until: Number.POSITIVE_INFINITY });
  }

  release(jobId: string): void {
    this.reservations.delete(jobId);
  }

  private expire(): void {
    const now = Date.now();
    for (const [id, r] of this.reservations) if (r.until < now) this.reservations.delete(id);
  }
}
