import { existsSync, realpathSync } from "node:fs";
import { isAbsolute } from "node:path";
import { z } from "zod";
import { CohortError } from "../../errors/index.js";
import { findSandboxTools, type SandboxTools } from "./bwrap.js";
import { DEFAULT_JOB_LIMITS, jobLimitsSchema, type JobLimits } from "./limits.js";
import { ConfinementErrorCode } from "./errors.js";
import { ConfigErrorCode } from "../../config/index.js";

/** The keys of local/resources.json that say how this site confines job code. */
export const confinementResourcesSchema = z.object({
  job_limits: jobLimitsSchema.optional(),
  /** The uid/gid job code runs as when the site runs as root (distroless' "nonroot" by default). */
  job_uid: z.number().int().min(1).max(0x7fffffff).default(65532),
  job_gid: z.number().int().min(1).max(0x7fffffff).default(65532),
  /** Extra folders job code may read (an interpreter's venv, a model zoo), read-only. */
  job_read_paths: z.array(z.string().refine(isAbsolute, "must be an absolute path")).optional(),
  /** Without bubblewrap, run jobs with custom code or scripts anyway (confined by Node's permission model only). */
  allow_unconfined_jobs: z.boolean().default(false),
});
export type ConfinementResources = z.infer<typeof confinementResourcesSchema>;

/** How a site confines job code, decided once at start. */
export interface JobConfinement {
  /** bubblewrap and its helpers; undefined: job code runs under Node's permission model only. */
  readonly tools: SandboxTools | undefined;
  readonly limits: JobLimits;
  readonly user: { readonly uid: number; readonly gid: number };
  readonly extraReadPaths: readonly string[];
  /** Jobs with custom code or scripts may run without bubblewrap (the site said so). */
  readonly allowUnconfined: boolean;
  /** Why there is no sandbox (the packages to install), when there is none. */
  readonly missing: readonly string[];
}

/** The site's confinement from its resources (`file` names local/resources.json in errors). */
export function jobConfinement(r: Partial<ConfinementResources> | undefined, file: string, env: NodeJS.ProcessEnv = process.env): JobConfinement {
  const parsed = confinementResourcesSchema.parse(r ?? {});
  const found = findSandboxTools(env);
  for (const p of parsed.job_read_paths ?? []) {
    if (!existsSync(p))
      throw new CohortError(
        ConfigErrorCode.Invalid,
        `${file}: job_read_paths: ${JSON.stringify(p)} does not exist; list folders job code may read (e.g. a Python venv)`,
        { file, field: "job_read_paths", value: p },
      );
  }
  return {
    tools: found.tools,
    limits: parsed.job_limits ?? DEFAULT_JOB_LIMITS,
    user: { uid: parsed.job_uid, gid: parsed.job_gid },
    extraReadPaths: (parsed.job_read_paths ?? []).map((p) => realpathSync(p)),
    allowUnconfined: parsed.allow_unconfined_jobs,
    missing: found.missing,
  };
}

/** One line for logs and check_status. */
export function describeConfinement(c: JobConfinement): string {
  if (!c.tools) {
    return `job code is NOT confined by the operating system (not found on PATH: ${c.missing.join(", ")}); ${c.allowUnconfined ? "allow_unconfined_jobs is true: jobs with custom code or scripts run under Node's permission model only" : "jobs with custom code or scripts are refused (install bubblewrap, or set allow_unconfined_jobs)"}`;
  }
  const who = process.getuid?.() === 0 ? `uid ${c.user.uid} gid ${c.user.gid}` : "the site's uid in a user namespace";
  const l = c.limits;
  return `job code confined by bubblewrap (${who}, no network, memory ${l.memory_mb} MiB, ${l.processes} processes, ${l.open_files} files, cpu ${l.cpu_seconds} s)`;
}

/** Refuses a job that needs confinement this site cannot give (its custom code or scripts). */
export function checkConfinementFor(c: JobConfinement, job: { jobId: string; site: string; runsOwnCode: boolean }): void {
  if (c.tools || !job.runsOwnCode || c.allowUnconfined) return;
  throw new CohortError(
    ConfinementErrorCode.Unconfined,
    `${job.site} does not run custom code or scripts unconfined: bubblewrap is missing (${c.missing.join(", ")}); fix: install Debian's bubblewrap on the site, or set "allow_unconfined_jobs": true in its local/resources.json`,
    { site: job.site, jobId: job.jobId },
  );
}
