import { z } from "zod";

/**
 * Operating-system limits for every process that runs job code (local/resources.json
 * `job_limits`). Memory is RLIMIT_DATA, not RLIMIT_AS: V8 and WebAssembly reserve far more address
 * space than they use (node-seal alone reserves gigabytes), while RLIMIT_DATA counts what is
 * writable and private, i.e. what a job really allocates. Processes is RLIMIT_NPROC, which the
 * kernel does not enforce for uid 0: that is why a root site runs job code under `job_uid`.
 */
export const jobLimitsSchema = z.strictObject({
  memory_mb: z.number().int().min(256).default(8192),
  cpu_seconds: z
    .number()
    .int()
    .min(1)
    .default(7 * 24 * 3600),
  file_size_mb: z.number().int().min(1).default(16_384),
  open_files: z.number().int().min(64).default(4096),
  processes: z.number().int().min(16).default(1024),
});
export type JobLimits = z.infer<typeof jobLimitsSchema>;

export const DEFAULT_JOB_LIMITS: JobLimits = jobLimitsSchema.parse({});

const MiB = 1024 * 1024;

/** `prlimit` options setting soft and hard limits (a job cannot raise them again). No core files: a dump would hold the job's data. */
export function prlimitArgs(l: JobLimits): string[] {
  const both = (v: number): string => `${v}:${v}`;
  return [
    `--data=${both(l.memory_mb * MiB)}`,
    `--cpu=${both(l.cpu_seconds)}`,
    `--fsize=${both(l.file_size_mb * MiB)}`,
    `--nofile=${both(l.open_files)}`,
    `--nproc=${both(l.processes)}`,
    "--core=0:0",
  ];
}

/**
 * The V8 heap a job child gets: below its memory limit, so V8 reports "out of memory" before the
 * kernel refuses it pages, and at most 2 GiB as before the sandbox (V8 grows lazily up to its
 * limit: a larger one costs resident memory in every job process; models live outside the heap).
 */
export function heapLimitMb(l: JobLimits): number {
  return Math.max(128, Math.min(2048, Math.floor(l.memory_mb * 0.75)));
}
