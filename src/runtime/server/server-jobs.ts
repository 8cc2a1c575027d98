import { join } from "node:path";
import { CohortError } from "../../errors/index.js";
import type { AuditLog } from "../../audit/index.js";
import type { TransportServer } from "../../transport/index.js";
import { packFolder } from "../jobs/archive.js";
import { describeConfinement, type JobConfinement } from "../sandbox/index.js";
import { isFinished, JobStore, type JobStatus, type StoredJobMeta } from "../jobs/store.js";
import { notAuthorized, type SiteSecurityOptions } from "../site/security.js";
import { firstRefusal, type SitePlugin } from "../participant/plugins.js";
import { TOPIC_JOB_PEER } from "../participant/topics.js";
import { RuntimeErrorCode } from "../jobs/errors.js";
import { JobScheduler, type SchedulerSettings } from "./job-scheduler.js";
import { checkClone, validateArchive } from "./job-submission.js";
import { relayPeerMessage } from "./peer-relay.js";
import { recordJobEnd, ServerJobRun, type ServerJobRunContext } from "./server-job-run.js";

export type { SchedulerSettings } from "./job-scheduler.js";

/**
 * The server side of jobs: the persistent job store and the admin commands, over the scheduler
 * (job-scheduler.ts), one ServerJobRun per running job (deployment, server job child, task relay),
 * the peer relay (peer-relay.ts) and the checks of submitted archives (job-submission.ts).
 */
export class ServerJobManager {
  readonly store: JobStore;
  /** The running jobs by id: the scheduler counts them, the peer relay looks them up. */
  private readonly running = new Map<string, ServerJobRun>();
  private readonly scheduler: JobScheduler;
  private readonly runContext: ServerJobRunContext;

  constructor(
    private readonly transport: TransportServer,
    private readonly o: {
      workspace: string;
      audit: AuditLog;
      log: (line: string) => void;
      settings: SchedulerSettings;
      dataPaths: readonly string[];
      confinement: JobConfinement;
      security: SiteSecurityOptions;
      plugins?: readonly SitePlugin[];
    },
  ) {
    this.store = new JobStore(join(o.workspace, "jobs"));
    this.scheduler = new JobScheduler({
      transport,
      store: this.store,
      audit: o.audit,
      log: o.log,
      settings: o.settings,
      running: this.running,
      launch: (m, sites) => this.launch(m, sites),
    });
    this.runContext = {
      transport,
      store: this.store,
      audit: o.audit,
      log: o.log,
      dataPaths: o.dataPaths,
      confinement: o.confinement,
      security: o.security,
      endJob: (id, status, reason) => this.end(id, status, reason),
      onEnded: (id) => {
        this.running.delete(id);
        this.schedule();
      },
    };
  }

  start(): void {
    this.transport.handleRequest(TOPIC_JOB_PEER, (body, meta) =>
      relayPeerMessage({ transport: this.transport, audit: this.o.audit, runningJob: (id) => this.running.get(id) }, body, meta),
    );
    this.scheduler.start();
  }

  async stop(): Promise<void> {
    this.scheduler.stop();
    // Running jobs stay RUNNING in the store: they resume after a restart.
    await Promise.allSettled([...this.running.values()].map((r) => r.stopChild("server stopping")));
  }

  // ---- job operations (the admin commands call these after authorisation) ----------------------

  async submit(archive: Uint8Array, user: { name: string; org: string; role: string }): Promise<StoredJobMeta> {
    const { job, submitter } = await validateArchive(archive, user, this.o.security);
    const refusal = await firstRefusal(this.o.plugins ?? [], (p) => p.onSubmitJob, { jobName: job.meta.name, submitter, byoc: job.byoc });
    if (refusal) throw notAuthorized(this.o.security.site, refusal);
    const meta = this.store.create(job.meta, archive, submitter, job.byoc);
    this.o.audit.append({ action: "job.submitted", outcome: "ok", user: submitter.name, job: meta.job_id, reason: meta.name });
    this.o.log(`job ${meta.job_id} (${meta.name}) submitted by ${user.name}`);
    for (const w of job.warnings) this.o.log(`job ${meta.job_id}: ${w}`);
    this.schedule();
    return meta;
  }

  async abort(id: string, by: string): Promise<void> {
    const m = this.store.get(id);
    if (isFinished(m.status)) throw new CohortError(RuntimeErrorCode.JobState, `job ${id} already ${m.status}`, { jobId: id });
    await this.end(id, "FINISHED:ABORTED", `aborted by ${by}`);
  }

  /**
   * clone_job, in two steps. Without an archive: the stored job (checked against its manifest) for
   * the console to re-sign. With one: a new job, if its manifest is the caller's and its files are
   * the stored job's (signature files aside).
   */
  async clone(
    id: string,
    user: { name: string; org: string; role: string },
    archive: Uint8Array | undefined,
  ): Promise<{ archive: Uint8Array } | StoredJobMeta> {
    const stored = this.store.archive(id);
    await checkClone(id, stored, archive, this.o.security);
    if (!archive) return { archive: stored };
    return this.submit(archive, user);
  }

  delete(id: string): void {
    const m = this.store.get(id);
    if (!isFinished(m.status)) throw new CohortError(RuntimeErrorCode.JobState, `job ${id} is ${m.status}; abort it before deleting`, { jobId: id });
    this.store.delete(id);
  }

  async download(id: string): Promise<{ job_id: string; meta: StoredJobMeta; archive: Uint8Array }> {
    return { job_id: id, meta: this.store.get(id), archive: await packFolder(this.store.workspace(id)) };
  }

  /** How job code is confined here (check_status). */
  confinementSummary(): string {
    return describeConfinement(this.o.confinement);
  }

  runningJobs(): string[] {
    return [...this.running.keys()];
  }

  /** Event-driven (submit, login, logout, job end) plus a slow timer for jobs waiting on resources. */
  schedule(): void {
    this.scheduler.schedule();
  }

  // ---- running ----------------------------------------------------------------------------------

  private async launch(m: StoredJobMeta, sites: string[]): Promise<void> {
    const run = new ServerJobRun(m, sites, this.runContext);
    this.running.set(m.job_id, run);
    await run.start();
  }

  /** Ends a job, running or not; the scheduler looks for the next. */
  private async end(id: string, status: JobStatus, reason?: string): Promise<void> {
    const run = this.running.get(id);
    if (run) return run.end(status, reason);
    // Not running (waiting to be scheduled, or a run that already ended): its record only.
    recordJobEnd(this.runContext, id, status, reason);
    this.schedule();
  }
}
