import { rmSync } from "node:fs";
import { join } from "node:path";
import { z } from "zod";
import { CohortError, isCohortError } from "../../errors/index.js";
import { decode, encode, bytesSchema } from "../../wire/index.js";
import type { AuditLog } from "../../audit/index.js";
import type { TransportServer } from "../../transport/index.js";
import { unpackArchive } from "../jobs/archive.js";
import { JobChild } from "../sandbox/job-process.js";
import { checkConfinementFor, grantReadTree, outputLimitAuditor, type JobConfinement } from "../sandbox/index.js";
import { appForSite, loadJobFolder } from "../jobs/definition.js";
import { isFinished, type JobStore, type JobStatus, type StoredJobMeta } from "../jobs/store.js";
import { clearJobForSite, type SiteSecurityOptions } from "../site/security.js";
import type { FromChild } from "../sandbox/child-protocol.js";
import { TOPIC_JOB_DEPLOY, TOPIC_JOB_END, TOPIC_JOB_TASK } from "../participant/topics.js";
import { RuntimeErrorCode } from "../jobs/errors.js";

const taskReplySchema = z.object({ payload: bytesSchema(), audit_ref: z.string().optional() });

/** Where a job's ending is written down: the store, the audit log, the server log. */
export interface JobRecords {
  readonly store: JobStore;
  readonly audit: AuditLog;
  readonly log: (line: string) => void;
}

export interface ServerJobRunContext extends JobRecords {
  readonly transport: TransportServer;
  readonly dataPaths: readonly string[];
  readonly confinement: JobConfinement;
  readonly security: SiteSecurityOptions;
  /**
   * Ends a job by id through the manager. The run's own endings (failed start, child exit, "done")
   * go there, not to `end`: the manager's table decides, so a run already ended while it was
   * still deploying still has a later failure recorded.
   */
  readonly endJob: (id: string, status: JobStatus, reason?: string) => Promise<void>;
  /** The run has ended, sites told and child stopped: the manager drops it and schedules the next. */
  readonly onEnded: (id: string) => void;
}

/** A job's ending in the store (unless already finished), the audit log and the server log. */
export function recordJobEnd(r: JobRecords, id: string, status: JobStatus, reason?: string): void {
  r.store.update(id, (x) =>
    isFinished(x.status) ? x : { ...x, status, end_time_iso: new Date().toISOString(), ...(reason ? { status_reason: reason } : {}) },
  );
  r.audit.append({
    action: "job.finished",
    outcome: status === "FINISHED:COMPLETED" ? "ok" : "error",
    job: id,
    reason: `${status}${reason ? `: ${reason}` : ""}`,
  });
  r.log(`job ${id} ${status}${reason ? `: ${reason}` : ""}`);
}

/**
 * One running job on the server: its deployment to its sites, the server job child, the relay of
 * tasks between the workflow in that child and the sites, its progress, and its end.
 */
export class ServerJobRun {
  /** The job's sites: the scheduler's pick, then those that took the deployment. */
  readonly sites: string[];
  private child: JobChild | undefined;
  private endedFlag = false;

  constructor(
    readonly meta: StoredJobMeta,
    sites: string[],
    private readonly ctx: ServerJobRunContext,
  ) {
    this.sites = sites;
  }

  get ended(): boolean {
    return this.endedFlag;
  }

  /** Deploys the job to its sites and starts the server job child; a failure ends the job FAILED_TO_RUN. */
  async start(): Promise<void> {
    const { ctx, meta: m, sites } = this;
    const resume = m.resumed_count > 0;
    ctx.store.update(m.job_id, (x) => ({ ...x, status: "DISPATCHED", job_clients: sites, schedule_count: x.schedule_count + 1 }));
    try {
      const archive = ctx.store.archive(m.job_id);
      const appDir = join(ctx.store.jobDir(m.job_id), "app");
      rmSync(appDir, { recursive: true, force: true });
      await unpackArchive(archive, appDir);
      if (ctx.confinement.tools) grantReadTree(appDir);
      const def = loadJobFolder(appDir, { shownAs: `job ${m.job_id}` });
      const serverAppName = appForSite(def.meta, "server");
      if (serverAppName) {
        const clearance = clearJobForSite(ctx.security, appDir, def, serverAppName, "server");
        for (const w of clearance.warnings) ctx.log(`job ${m.job_id}: ${w}`);
        checkConfinementFor(ctx.confinement, { jobId: m.job_id, site: "server", runsOwnCode: clearance.byoc });
      }
      // Each site's certificate, as it logged in: sites seal peer messages with them (and check them against the root).
      const peerCerts = Object.fromEntries(
        sites.flatMap((s) => {
          const pem = ctx.transport.session(s)?.identity.certPem;
          return pem ? [[s, pem]] : [];
        }),
      );
      const deployed = await Promise.allSettled(
        sites.map(async (site) => {
          const app = appForSite(def.meta, site);
          if (!app) throw new CohortError(RuntimeErrorCode.Deploy, `no app for ${site} in the deploy_map`, { site });
          await ctx.transport.request(
            site,
            TOPIC_JOB_DEPLOY,
            encode({ job_id: m.job_id, job_name: m.name, app, archive, sites, resume, peer_certs: peerCerts }),
            { timeoutMs: 60_000 },
          );
          return site;
        }),
      );
      // As in FLARE, a job may be refused by some sites (their policy, allow-list…) and run on the
      // others, if enough of them (min_clients, every mandatory site) took it.
      const accepted = deployed.flatMap((d) => (d.status === "fulfilled" ? [d.value] : []));
      // Aborted while it deployed: the sites that took it after the abort's end message must stop it
      // too, and no server job child may start for a job the manager no longer tracks.
      if (this.endedFlag) {
        await Promise.allSettled(accepted.map((s) => ctx.transport.send(s, TOPIC_JOB_END, encode({ job_id: m.job_id, status: "FINISHED:ABORTED" }))));
        return;
      }
      const refusals = deployed.flatMap((d, i) =>
        d.status === "rejected" ? [`${sites[i]}: ${(d.reason as Error).message.replace(/^[^:]+ refused: /, "")}`] : [],
      );
      for (const r of refusals) {
        ctx.audit.append({ action: "job.deploy_refused", outcome: "denied", job: m.job_id, reason: r });
        ctx.log(`job ${m.job_id} refused by ${r}`);
      }
      const missingMandatory = m.mandatory_clients.filter((s) => !accepted.includes(s));
      if (accepted.length < m.min_clients || missingMandatory.length > 0) {
        await Promise.allSettled(accepted.map((s) => ctx.transport.send(s, TOPIC_JOB_END, encode({ job_id: m.job_id, status: "FINISHED:FAILED_TO_RUN" }))));
        throw new CohortError(
          RuntimeErrorCode.Deploy,
          `only ${accepted.length} site(s) took the job (min_clients ${m.min_clients}${missingMandatory.length ? `, mandatory ${missingMandatory.join(", ")} refused` : ""}): ${refusals.join("; ")}`,
          { refusals },
        );
      }
      sites.splice(0, sites.length, ...accepted);
      if (refusals.length) ctx.store.update(m.job_id, (x) => ({ ...x, job_clients: accepted, status_reason: `refused by ${refusals.join("; ")}` }));
      ctx.audit.append({ action: "job.deployed", outcome: "ok", job: m.job_id, reason: `to ${accepted.join(", ")}` });
      const serverApp = appForSite(def.meta, "server");
      const app = serverApp ? def.apps.get(serverApp) : undefined;
      if (!app?.server || !serverApp) throw new CohortError(RuntimeErrorCode.Deploy, "no server app", {});
      const runDir = ctx.store.workspace(m.job_id);
      this.child = new JobChild({
        jobId: m.job_id,
        readPaths: [appDir, ...ctx.dataPaths],
        writePath: runDir,
        confinement: ctx.confinement,
        onOutputLimit: outputLimitAuditor(ctx.audit, m.job_id),
        onMessage: (msg) => this.fromChild(msg),
        onExit: (code, signal) => {
          if (!this.endedFlag)
            void ctx.endJob(m.job_id, "FINISHED:EXECUTION_EXCEPTION", `the server job process exited unexpectedly (${signal ?? `code ${code}`})`);
        },
        log: ctx.log,
      });
      this.child.send({
        type: "init",
        role: "server",
        jobId: m.job_id,
        jobName: m.name,
        site: "server",
        appDir: join(appDir, serverApp),
        runDir,
        sites: accepted,
        server: app.server,
        resume,
      });
      ctx.store.update(m.job_id, (x) => ({ ...x, status: "RUNNING", start_time_iso: x.start_time_iso ?? new Date().toISOString() }));
      ctx.log(`job ${m.job_id} (${m.name}) running on ${accepted.join(", ")}`);
    } catch (err) {
      ctx.log(`job ${m.job_id} failed to start: ${(err as Error).message}`);
      // An abort during deployment already ended it (one job.finished line per job).
      if (!this.endedFlag) await ctx.endJob(m.job_id, "FINISHED:FAILED_TO_RUN", (err as Error).message);
    }
  }

  /** Ends the job: status, audit, sites told, child stopped; then the manager is told. */
  async end(status: JobStatus, reason?: string): Promise<void> {
    // The first ending wins (a child reports "done", then exits, then answers the abort…).
    if (this.endedFlag) return;
    this.endedFlag = true;
    const id = this.meta.job_id;
    recordJobEnd(this.ctx, id, status, reason);
    await Promise.allSettled(this.sites.map((s) => this.ctx.transport.send(s, TOPIC_JOB_END, encode({ job_id: id, status }))));
    await this.child?.stop(reason ?? status, 3_000);
    this.ctx.onEnded(id);
  }

  /** Stops the child only (the server is stopping): the job stays RUNNING in the store and resumes after a restart. */
  stopChild(reason: string): Promise<void> | undefined {
    return this.child?.stop(reason, 3_000);
  }

  private fromChild(msg: FromChild): void {
    const { ctx } = this;
    const id = this.meta.job_id;
    switch (msg.type) {
      case "task.send": {
        const child = this.child;
        // Task flow audit, FLARE's: sent (its id travels with the task), and the site's result
        // event id comes back with the result.
        const sent = ctx.audit.append({ action: "task.sent", outcome: "ok", job: id, peer: msg.site, reason: `${msg.taskName} #${msg.taskId}` });
        ctx.transport
          .request(msg.site, TOPIC_JOB_TASK, encode({ job_id: id, task_id: msg.taskId, task_name: msg.taskName, payload: msg.payload, audit_ref: sent }), {
            timeoutMs: msg.timeoutMs,
          })
          .then(
            (reply) => {
              const r = taskReplySchema.parse(decode(reply));
              ctx.audit.append({
                action: "task.result_received",
                outcome: "ok",
                job: id,
                peer: msg.site,
                ...(r.audit_ref ? { ref: r.audit_ref } : {}),
                reason: `${msg.taskName} #${msg.taskId}`,
              });
              child?.send({ type: "task.result", taskId: msg.taskId, site: msg.site, payload: r.payload });
            },
            (err: Error) => {
              ctx.audit.append({
                action: "task.result_received",
                outcome: "error",
                job: id,
                peer: msg.site,
                ref: sent,
                code: isCohortError(err) ? err.code : RuntimeErrorCode.TaskFailed,
                reason: err.message,
              });
              child?.send({
                type: "task.error",
                taskId: msg.taskId,
                site: msg.site,
                code: isCohortError(err) ? err.code : RuntimeErrorCode.TaskFailed,
                message: err.message,
              });
            },
          )
          .catch(() => undefined);
        return;
      }
      case "progress":
        ctx.store.update(id, (x) => ({
          ...x,
          total_rounds: msg.totalRounds,
          rounds: [
            ...x.rounds.filter((r) => r.round !== msg.round),
            { round: msg.round, metrics: msg.metrics, sites: msg.sites, at: new Date().toISOString() },
          ],
        }));
        ctx.log(
          `job ${id.slice(0, 8)} round ${msg.round}/${msg.totalRounds} ${Object.entries(msg.metrics)
            .map(([k, v]) => `${k} ${v.toFixed(4)}`)
            .join(" ")}`,
        );
        return;
      case "log":
        ctx.log(`job ${id.slice(0, 8)} ${msg.level}: ${msg.line}`);
        return;
      case "done":
        void ctx.endJob(id, msg.status, msg.reason);
        return;
      default:
        return;
    }
  }
}
