import { randomUUID } from "node:crypto";
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { join } from "node:path";
import { z } from "zod";
import { CohortError } from "../../errors/index.js";
import { writeFileAtomic } from "../../pki/index.js";
import { metaSchema, type JobMeta } from "./definition.js";
import { RuntimeErrorCode } from "./errors.js";

/** FLARE's job statuses. */
export const JOB_STATUSES = [
  "SUBMITTED",
  "DISPATCHED",
  "RUNNING",
  "FINISHED:COMPLETED",
  "FINISHED:ABORTED",
  "FINISHED:EXECUTION_EXCEPTION",
  "FINISHED:ABNORMAL",
  "FINISHED:CAN_NOT_SCHEDULE",
  "FINISHED:FAILED_TO_RUN",
] as const;
export type JobStatus = (typeof JOB_STATUSES)[number];
export const isFinished = (s: JobStatus): boolean => s.startsWith("FINISHED:");

const roundSchema = z.object({ round: z.number().int(), metrics: z.record(z.string(), z.number()), sites: z.array(z.string()), at: z.string() });
export const storedMetaSchema = metaSchema.extend({
  job_id: z.string().uuid(),
  submitter_name: z.string(),
  submitter_org: z.string(),
  submitter_role: z.string(),
  submit_time_iso: z.string(),
  status: z.enum(JOB_STATUSES),
  byoc: z.boolean(),
  start_time_iso: z.string().optional(),
  end_time_iso: z.string().optional(),
  schedule_count: z.number().int().default(0),
  resumed_count: z.number().int().default(0),
  job_clients: z.array(z.string()).optional(),
  status_reason: z.string().optional(),
  /** Progress of the workflow: one entry per finished round. */
  rounds: z.array(roundSchema).default([]),
  total_rounds: z.number().int().optional(),
});
export type StoredJobMeta = z.infer<typeof storedMetaSchema>;

/**
 * The server's persistent job store, inside the site folder (`<kit>/workspace/jobs/<id>/`):
 * `job.tgz` (the folder as submitted), `meta.json` (status, submitter, progress; written
 * atomically) and `workspace/` (the job's run folder: results, global and best models, logs).
 * It survives restarts: jobs that were running when the server stopped are found by `recover`.
 */
export class JobStore {
  constructor(readonly root: string) {
    mkdirSync(root, { recursive: true, mode: 0o700 });
  }

  jobDir(id: string): string {
    if (!/^[0-9a-f-]{36}$/.test(id)) throw new CohortError(RuntimeErrorCode.JobNotFound, `${JSON.stringify(id)} is not a job id (a UUID)`, { jobId: id });
    return join(this.root, id);
  }

  /** Stores a new job; returns its meta with a fresh UUIDv4 id and status SUBMITTED. */
  create(meta: JobMeta, archive: Uint8Array, submitter: { name: string; org: string; role: string }, byoc: boolean): StoredJobMeta {
    const id = randomUUID();
    const dir = this.jobDir(id);
    mkdirSync(join(dir, "workspace"), { recursive: true, mode: 0o700 });
    writeFileAtomic(join(dir, "job.tgz"), archive, 0o600);
    const stored: StoredJobMeta = storedMetaSchema.parse({
      ...meta,
      job_id: id,
      submitter_name: submitter.name,
      submitter_org: submitter.org,
      submitter_role: submitter.role,
      submit_time_iso: new Date().toISOString(),
      status: "SUBMITTED",
      byoc,
    });
    this.save(stored);
    return stored;
  }

  save(meta: StoredJobMeta): void {
    writeFileAtomic(join(this.jobDir(meta.job_id), "meta.json"), `${JSON.stringify(meta, null, 2)}\n`, 0o600);
  }

  get(id: string): StoredJobMeta {
    const file = join(this.jobDir(id), "meta.json");
    if (!existsSync(file)) throw new CohortError(RuntimeErrorCode.JobNotFound, `no job ${id}`, { jobId: id });
    return storedMetaSchema.parse(JSON.parse(readFileSync(file, "utf8")));
  }

  update(id: string, change: (m: StoredJobMeta) => StoredJobMeta): StoredJobMeta {
    const next = change(this.get(id));
    this.save(next);
    return next;
  }

  archive(id: string): Uint8Array {
    return new Uint8Array(readFileSync(join(this.jobDir(id), "job.tgz")));
  }

  workspace(id: string): string {
    return join(this.jobDir(id), "workspace");
  }

  /** Every job, oldest first; a damaged meta.json is reported, not fatal. */
  list(onDamaged?: (id: string, err: Error) => void): StoredJobMeta[] {
    const out: StoredJobMeta[] = [];
    for (const name of readdirSync(this.root)) {
      if (!/^[0-9a-f-]{36}$/.test(name)) continue;
      try {
        out.push(this.get(name));
      } catch (err) {
        onDamaged?.(name, err as Error);
      }
    }
    return out.sort((a, b) => a.submit_time_iso.localeCompare(b.submit_time_iso));
  }

  delete(id: string): void {
    rmSync(this.jobDir(id), { recursive: true, force: true });
  }

  /**
   * After a restart: jobs that were dispatched or running are put back in the queue to resume
   * from their last saved round (the workflow reads its checkpoint); returns their ids.
   */
  recover(): string[] {
    const resumed: string[] = [];
    for (const m of this.list()) {
      if (m.status === "RUNNING" || m.status === "DISPATCHED") {
        this.save({
          ...m,
          status: "SUBMITTED",
          resumed_count: m.resumed_count + 1,
          status_reason: `server restarted while the job was ${m.status.toLowerCase()}; it resumes from its last saved round`,
        });
        resumed.push(m.job_id);
      }
    }
    return resumed;
  }
}
