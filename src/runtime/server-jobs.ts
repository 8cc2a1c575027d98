import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { z } from "zod";
import { CohortError, isCohortError } from "../errors/index.js";
import { decode, encode } from "../wire/index.js";
import type { AuditLog } from "../audit/index.js";
import type { MessageMeta, TransportServer } from "../transport/index.js";
import { packFolder, unpackArchive } from "./archive.js";
import { JobChild } from "./job-process.js";
import { appForSite, deploySites, loadJobFolder, RuntimeErrorCode, type JobDefinition } from "./job-def.js";
import { isFinished, JobStore, type JobStatus, type StoredJobMeta } from "./job-store.js";
import { checkComponents } from "./component-check.js";
import type { FromChild } from "./child-protocol.js";

export const TOPIC_ADMIN = "admin.command";
export const TOPIC_JOB_DEPLOY = "job.deploy";
export const TOPIC_JOB_TASK = "job.task";
export const TOPIC_JOB_END = "job.end";
export const TOPIC_JOB_RESOURCES = "job.check_resources";

export interface SchedulerSettings {
  /** Jobs running at once (FLARE's max_jobs, default 4). */
  readonly maxJobs: number;
  /** Scheduling attempts before a job that cannot get its sites/resources ends CAN_NOT_SCHEDULE. */
  readonly maxScheduleCount: number;
  /** Seconds between attempts for a waiting job. */
  readonly scheduleInterval: number;
  /**
   * Seconds after the server starts during which attempts that fail because sites are not
   * connected yet do not count (sites reconnect with backoff after a restart). Default 60.
   */
  readonly reconnectGrace?: number;
}

interface RunningJob {
  readonly meta: StoredJobMeta;
  readonly sites: string[];
  child: JobChild | undefined;
  ended: boolean;
}

const adminRequestSchema = z.object({ cmd: z.string().min(1).max(64), args: z.array(z.string().max(4096)).max(16).default([]), archive: z.custom<Uint8Array>((v) => v instanceof Uint8Array).optional() });

/**
 * The server side of jobs: the persistent job store, admin commands, the scheduler (min_clients,
 * mandatory_clients, site resources, max_jobs), deployment to sites, the server job child, and the
 * relay of tasks between the workflow and the sites.
 */
export class ServerJobManager {
  readonly store: JobStore;
  private readonly running = new Map<string, RunningJob>();
  private timer: NodeJS.Timeout | undefined;
  private scheduling = false;
  private again = false;
  private stopped = false;
  private startedAt = Date.now();

  constructor(
    private readonly transport: TransportServer,
    private readonly o: { workspace: string; audit: AuditLog; log: (line: string) => void; settings: SchedulerSettings; dataPaths: readonly string[] },
  ) {
    this.store = new JobStore(join(o.workspace, "jobs"));
  }

  start(): void {
    this.startedAt = Date.now();
    for (const id of this.store.recover()) this.o.log(`job ${id} was running when the server stopped; it will resume`);
    this.transport.handleRequest(TOPIC_ADMIN, (body, meta) => this.admin(body, meta));
    this.transport.onSession(() => this.schedule());
    this.timer = setInterval(() => this.schedule(), Math.max(250, this.o.settings.scheduleInterval * 1000));
    this.timer.unref();
    this.schedule();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearInterval(this.timer);
    // Running jobs stay RUNNING in the store: they resume after a restart.
    await Promise.allSettled([...this.running.values()].map((r) => r.child?.stop("server stopping", 3_000)));
  }

  // ---- admin commands -------------------------------------------------------------------------

  private async admin(body: Uint8Array, meta: MessageMeta): Promise<Uint8Array> {
    if (meta.peer?.type !== "admin") throw new CohortError("ERR_ADMIN_NOT_ADMIN", `${meta.sender} is not logged in as an admin`, {});
    const req = adminRequestSchema.parse(decode(body));
    const user = { name: meta.sender, org: meta.peer.org, role: meta.peer.role };
    const eventId = this.o.audit.append({ action: `admin.${req.cmd}`, outcome: "ok", user: user.name, reason: req.args.join(" ").slice(0, 200) });
    try {
      return encode(await this.command(req.cmd, req.args, req.archive, { name: user.name, org: user.org ?? "", role: user.role ?? "" }));
    } catch (err) {
      this.o.audit.append({ action: `admin.${req.cmd}`, outcome: isCohortError(err) ? "denied" : "error", user: user.name, ref: eventId, code: isCohortError(err) ? err.code : "ERR_ADMIN_FAILED", reason: (err as Error).message });
      throw err;
    }
  }

  private async command(cmd: string, args: readonly string[], archive: Uint8Array | undefined, user: { name: string; org: string; role: string }): Promise<unknown> {
    const jobArg = (): string => {
      const id = args[0];
      if (!id) throw new CohortError("ERR_ADMIN_USAGE", `${cmd} needs a job id`, {});
      return id;
    };
    switch (cmd) {
      case "submit_job": {
        if (!archive) throw new CohortError("ERR_ADMIN_USAGE", "submit_job needs a job folder", {});
        const job = await this.validateArchive(archive);
        const meta = this.store.create(job.meta, archive, user, job.byoc);
        this.o.log(`job ${meta.job_id} (${meta.name}) submitted by ${user.name}`);
        this.schedule();
        return { job_id: meta.job_id, name: meta.name, status: meta.status };
      }
      case "list_jobs":
        return this.store.list().map((m) => ({ job_id: m.job_id, name: m.name, status: m.status, submit_time: m.submit_time_iso, submitter: m.submitter_name, rounds: m.rounds.length, total_rounds: m.total_rounds }));
      case "get_job_meta":
        return this.store.get(jobArg());
      case "abort_job": {
        const id = jobArg();
        const m = this.store.get(id);
        if (isFinished(m.status)) throw new CohortError(RuntimeErrorCode.JobState, `job ${id} already ${m.status}`, { jobId: id });
        await this.end(id, "FINISHED:ABORTED", `aborted by ${user.name}`);
        return { job_id: id, status: "FINISHED:ABORTED" };
      }
      case "check_status": {
        const target = args[0] ?? "server";
        const clients = this.transport.sessionNames().flatMap((n) => {
          const s = this.transport.session(n);
          return s && s.identity.type === "client" ? [{ name: n, org: s.identity.org, connected_since: s.since.toISOString(), last_seen: new Date(s.lastSeen).toISOString() }] : [];
        });
        if (target === "server") return { server: "started", clients: clients.map((c) => c.name), running_jobs: [...this.running.keys()] };
        if (target === "client") return { clients };
        throw new CohortError("ERR_ADMIN_USAGE", "check_status takes server or client", { target });
      }
      case "download_job": {
        const id = jobArg();
        const m = this.store.get(id);
        return { job_id: id, meta: m, archive: await packFolder(this.store.workspace(id)) };
      }
      default:
        throw new CohortError("ERR_ADMIN_UNKNOWN_COMMAND", `unknown command ${JSON.stringify(cmd)}`, { cmd });
    }
  }

  /** Unpacks and validates a submitted job folder: structure, configs, registered components. */
  private async validateArchive(archive: Uint8Array): Promise<JobDefinition> {
    const tmp = mkdtempSync(join(tmpdir(), "cohort-submit-"));
    try {
      await unpackArchive(archive, tmp);
      const job = loadJobFolder(tmp);
      checkComponents(job);
      return job;
    } finally {
      rmSync(tmp, { recursive: true, force: true });
    }
  }

  // ---- scheduling -------------------------------------------------------------------------------

  /** Event-driven (submit, login, logout, job end) plus a slow timer for jobs waiting on resources. */
  schedule(): void {
    if (this.stopped) return;
    if (this.scheduling) {
      this.again = true;
      return;
    }
    this.scheduling = true;
    this.scheduleOnce()
      .catch((err: Error) => this.o.log(`scheduler: ${err.message}`))
      .finally(() => {
        this.scheduling = false;
        if (this.again) {
          this.again = false;
          this.schedule();
        }
      });
  }

  private async scheduleOnce(): Promise<void> {
    for (const m of this.store.list()) {
      if (m.status !== "SUBMITTED" || this.running.has(m.job_id)) continue;
      if (this.running.size >= this.o.settings.maxJobs) return;
      const verdict = await this.canRun(m);
      if (verdict.ok) {
        await this.launch(m, verdict.sites);
        continue;
      }
      const inGrace = verdict.waitingForSites && Date.now() - this.startedAt < (this.o.settings.reconnectGrace ?? 60) * 1000;
      const next = this.store.update(m.job_id, (x) => ({ ...x, schedule_count: x.schedule_count + (inGrace ? 0 : 1), status_reason: verdict.reason }));
      if (next.schedule_count >= this.o.settings.maxScheduleCount) {
        this.store.update(m.job_id, (x) => ({ ...x, status: "FINISHED:CAN_NOT_SCHEDULE", end_time_iso: new Date().toISOString() }));
        this.o.audit.append({ action: "job.can_not_schedule", outcome: "error", job: m.job_id, reason: verdict.reason });
        this.o.log(`job ${m.job_id} cannot be scheduled: ${verdict.reason}`);
      }
    }
  }

  private connectedSites(): string[] {
    return this.transport.sessionNames().filter((n) => this.transport.session(n)?.identity.type === "client");
  }

  private async canRun(m: StoredJobMeta): Promise<{ ok: true; sites: string[] } | { ok: false; reason: string; waitingForSites?: boolean }> {
    const connected = this.connectedSites();
    const { named, all } = deploySites(m);
    const wanted = all ? [...new Set([...connected, ...named])] : named;
    const missingMandatory = m.mandatory_clients.filter((s) => !connected.includes(s));
    if (missingMandatory.length > 0) return { ok: false, waitingForSites: true, reason: `mandatory sites not connected: ${missingMandatory.join(", ")}` };
    const available = wanted.filter((s) => connected.includes(s));
    if (available.length < m.min_clients) return { ok: false, waitingForSites: true, reason: `${available.length} of the job's sites connected (${available.join(", ") || "none"}), min_clients is ${m.min_clients}` };
    const checks = await Promise.all(
      available.map(async (site) => {
        try {
          const r = z.object({ ok: z.boolean(), reason: z.string().optional() }).parse(decode(await this.transport.request(site, TOPIC_JOB_RESOURCES, encode({ job_id: m.job_id, spec: m.resource_spec[site] ?? {} }), { timeoutMs: 10_000 })));
          return { site, ...r };
        } catch (err) {
          return { site, ok: false, reason: (err as Error).message };
        }
      }),
    );
    const ok = checks.filter((c) => c.ok).map((c) => c.site);
    const notOk = checks.filter((c) => !c.ok);
    if (notOk.some((c) => m.mandatory_clients.includes(c.site)) || ok.length < m.min_clients) {
      return { ok: false, reason: `not enough sites with the resources: ${notOk.map((c) => `${c.site}: ${c.reason ?? "refused"}`).join("; ")}` };
    }
    return { ok: true, sites: ok.sort() };
  }

  // ---- running ----------------------------------------------------------------------------------

  private async launch(m: StoredJobMeta, sites: string[]): Promise<void> {
    const job: RunningJob = { meta: m, sites, child: undefined, ended: false };
    this.running.set(m.job_id, job);
    const resume = m.resumed_count > 0;
    this.store.update(m.job_id, (x) => ({ ...x, status: "DISPATCHED", job_clients: sites, schedule_count: x.schedule_count + 1 }));
    try {
      const archive = this.store.archive(m.job_id);
      const appDir = join(this.store.jobDir(m.job_id), "app");
      rmSync(appDir, { recursive: true, force: true });
      await unpackArchive(archive, appDir);
      const def = loadJobFolder(appDir);
      await Promise.all(
        sites.map(async (site) => {
          const app = appForSite(def.meta, site);
          if (!app) throw new CohortError(RuntimeErrorCode.Deploy, `no app for ${site} in the deploy_map`, { site });
          await this.transport.request(site, TOPIC_JOB_DEPLOY, encode({ job_id: m.job_id, job_name: m.name, app, archive, sites, resume }), { timeoutMs: 60_000 });
        }),
      );
      this.o.audit.append({ action: "job.deployed", outcome: "ok", job: m.job_id, reason: `to ${sites.join(", ")}` });
      const serverApp = appForSite(def.meta, "server");
      const app = serverApp ? def.apps.get(serverApp) : undefined;
      if (!app?.server || !serverApp) throw new CohortError(RuntimeErrorCode.Deploy, "no server app", {});
      const runDir = this.store.workspace(m.job_id);
      job.child = new JobChild({
        jobId: m.job_id,
        readPaths: [appDir, ...this.o.dataPaths],
        writePath: runDir,
        onMessage: (msg) => this.fromChild(job, msg),
        onExit: (code, signal) => {
          if (!job.ended) void this.end(m.job_id, "FINISHED:EXECUTION_EXCEPTION", `the server job process exited unexpectedly (${signal ?? `code ${code}`})`);
        },
        log: this.o.log,
      });
      job.child.send({ type: "init", role: "server", jobId: m.job_id, jobName: m.name, site: "server", appDir: join(appDir, serverApp), runDir, sites, server: app.server, resume });
      this.store.update(m.job_id, (x) => ({ ...x, status: "RUNNING", start_time_iso: x.start_time_iso ?? new Date().toISOString() }));
      this.o.log(`job ${m.job_id} (${m.name}) running on ${sites.join(", ")}`);
    } catch (err) {
      this.o.log(`job ${m.job_id} failed to start: ${(err as Error).message}`);
      await this.end(m.job_id, "FINISHED:FAILED_TO_RUN", (err as Error).message);
    }
  }

  private fromChild(job: RunningJob, msg: FromChild): void {
    const id = job.meta.job_id;
    switch (msg.type) {
      case "task.send": {
        const child = job.child;
        this.transport
          .request(msg.site, TOPIC_JOB_TASK, encode({ job_id: id, task_id: msg.taskId, task_name: msg.taskName, payload: msg.payload }), { timeoutMs: msg.timeoutMs })
          .then(
            (payload) => child?.send({ type: "task.result", taskId: msg.taskId, site: msg.site, payload }),
            (err: Error) => child?.send({ type: "task.error", taskId: msg.taskId, site: msg.site, code: isCohortError(err) ? err.code : "ERR_JOB_TASK_FAILED", message: err.message }),
          )
          .catch(() => undefined);
        return;
      }
      case "progress":
        this.store.update(id, (x) => ({ ...x, total_rounds: msg.totalRounds, rounds: [...x.rounds.filter((r) => r.round !== msg.round), { round: msg.round, metrics: msg.metrics, sites: msg.sites, at: new Date().toISOString() }] }));
        this.o.log(`job ${id.slice(0, 8)} round ${msg.round}/${msg.totalRounds} ${Object.entries(msg.metrics).map(([k, v]) => `${k} ${v.toFixed(4)}`).join(" ")}`);
        return;
      case "log":
        this.o.log(`job ${id.slice(0, 8)} ${msg.level}: ${msg.line}`);
        return;
      case "done":
        void this.end(id, msg.status, msg.reason);
        return;
      default:
        return;
    }
  }

  /** Ends a job: status, audit, sites told, child stopped; the scheduler looks for the next. */
  private async end(id: string, status: JobStatus, reason?: string): Promise<void> {
    const job = this.running.get(id);
    // The first ending wins (a child reports "done", then exits, then answers the abort…).
    if (job?.ended) return;
    if (job) job.ended = true;
    this.store.update(id, (x) => (isFinished(x.status) ? x : { ...x, status, end_time_iso: new Date().toISOString(), ...(reason ? { status_reason: reason } : {}) }));
    this.o.audit.append({ action: "job.finished", outcome: status === "FINISHED:COMPLETED" ? "ok" : "error", job: id, reason: `${status}${reason ? `: ${reason}` : ""}` });
    this.o.log(`job ${id} ${status}${reason ? `: ${reason}` : ""}`);
    if (job) {
      await Promise.allSettled(job.sites.map((s) => this.transport.send(s, TOPIC_JOB_END, encode({ job_id: id, status }))));
      await job.child?.stop(reason ?? status, 3_000);
      this.running.delete(id);
    }
    this.schedule();
  }
}
