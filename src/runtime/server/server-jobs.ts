import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { z } from "zod";
import { CohortError, isCohortError } from "../../errors/index.js";
import { decode, encode, bytesSchema } from "../../wire/index.js";
import type { AuditLog } from "../../audit/index.js";
import type { MessageMeta, TransportServer } from "../../transport/index.js";
import { packFolder, unpackArchive } from "../jobs/archive.js";
import { JobChild } from "../sandbox/job-process.js";
import { checkConfinementFor, describeConfinement, grantReadTree, type JobConfinement } from "../sandbox/index.js";
import { appForSite, deploySites, loadJobFolder, type JobDefinition } from "../jobs/definition.js";
import { isFinished, JobStore, type JobStatus, type StoredJobMeta } from "../jobs/store.js";
import { checkComponents } from "../jobs/component-check.js";
import { notAuthorized, rightDenied, clearJobForSite, verifyJobManifestOf, type SiteSecurityOptions } from "../site/security.js";
import { firstRefusal, type SitePlugin } from "../participant/plugins.js";
import { isJobSignatureFile, JobSignatureErrorCode, scanJobFolder } from "../../pki/index.js";
import { peekPeerMessageHeader } from "../../auth/index.js";
import type { FromChild } from "../sandbox/child-protocol.js";

import { TOPIC_JOB_DEPLOY, TOPIC_JOB_END, TOPIC_JOB_PEER, TOPIC_JOB_PEER_DELIVER, TOPIC_JOB_RESOURCES, TOPIC_JOB_TASK } from "../participant/topics.js";
import { RuntimeErrorCode } from "../jobs/errors.js";
/** A relayed peer message's wait is bounded whatever the sender asks. */
const MAX_PEER_RELAY_MS = 3_600_000;

/** Bytes that are not valid wire data read as nothing: the schema check then refuses them (with an audit line). */
function decodeOrUndefined(body: Uint8Array): unknown {
  try {
    return decode(body);
  } catch {
    return undefined;
  }
}

const peerRelaySchema = z.object({
  job_id: z.string().uuid(),
  to: z.string().max(200),
  envelope: bytesSchema(),
  timeout_ms: z.number().int().positive().default(600_000),
});
const taskReplySchema = z.object({ payload: bytesSchema(), audit_ref: z.string().optional() });

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
  }

  start(): void {
    this.startedAt = Date.now();
    for (const id of this.store.recover()) this.o.log(`job ${id} was running when the server stopped; it will resume`);
    this.transport.onSession(() => this.schedule());
    this.transport.handleRequest(TOPIC_JOB_PEER, (body, meta) => this.relayPeerMessage(body, meta));
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

  // ---- job operations (the admin commands call these after authorisation) ----------------------

  async submit(archive: Uint8Array, user: { name: string; org: string; role: string }): Promise<StoredJobMeta> {
    const { job, submitter } = await this.validateArchive(archive, user);
    const refusal = await firstRefusal(this.o.plugins ?? [], (p) => p.onSubmitJob, { jobName: job.meta.name, submitter, byoc: job.byoc });
    if (refusal) throw notAuthorized(this.o.security.site, refusal);
    const meta = this.store.create(job.meta, archive, submitter, job.byoc);
    this.o.audit.append({ action: "job.submitted", outcome: "ok", user: submitter.name, job: meta.job_id, reason: meta.name });
    this.o.log(`job ${meta.job_id} (${meta.name}) submitted by ${user.name}`);
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
    const content = await this.withUnpacked(stored, (dir) => {
      if (this.o.security.requireSignedJobs) verifyJobManifestOf(dir, this.o.security.rootPem, loadJobFolder(dir));
      return jobContent(dir);
    });
    if (!archive) return { archive: stored };
    const offered = await this.withUnpacked(archive, (dir) => jobContent(dir));
    const differs = [...new Set([...Object.keys(content), ...Object.keys(offered)])].filter((p) => content[p] !== offered[p]).sort();
    if (differs.length > 0) {
      throw new CohortError(
        JobSignatureErrorCode.Tampered,
        `clone_job ${id}: the re-signed job is not the stored job (${differs.slice(0, 5).join(", ")} differ${differs.length > 5 ? ", …" : ""}); run clone_job again, or submit_job for new content`,
        { jobId: id, path: differs[0] },
      );
    }
    return this.submit(archive, user);
  }

  private async withUnpacked<T>(archive: Uint8Array, f: (dir: string) => T): Promise<T> {
    const tmp = mkdtempSync(join(tmpdir(), "cohort-clone-"));
    try {
      await unpackArchive(archive, tmp);
      return f(tmp);
    } finally {
      rmSync(tmp, { recursive: true, force: true });
    }
  }

  delete(id: string): void {
    const m = this.store.get(id);
    if (!isFinished(m.status)) throw new CohortError(RuntimeErrorCode.JobState, `job ${id} is ${m.status}; abort it before deleting`, { jobId: id });
    this.store.delete(id);
  }

  async download(id: string): Promise<{ job_id: string; meta: StoredJobMeta; archive: Uint8Array }> {
    return { job_id: id, meta: this.store.get(id), archive: await packFolder(this.store.workspace(id)) };
  }

  /**
   * Relays a sealed message between two sites of a running job (swarm learning). The server sees
   * who, which job, the topic and the size — it audits those — but not the content: the envelope
   * is encrypted for the recipient and signed by the sender (src/auth/peer-envelope.ts).
   */
  private async relayPeerMessage(body: Uint8Array, meta: MessageMeta): Promise<Uint8Array> {
    const parsed = peerRelaySchema.safeParse(decodeOrUndefined(body));
    const from = meta.sender;
    const refuse = (job: string | undefined, reason: string): never => {
      this.o.audit.append({ action: "peer.relay", outcome: "denied", peer: from, ...(job ? { job } : {}), code: RuntimeErrorCode.PeerRelay, reason });
      throw new CohortError(RuntimeErrorCode.PeerRelay, `peer message from ${from} not relayed: ${reason}`, { from });
    };
    if (!parsed.success) return refuse(undefined, "not a peer relay request (job_id, to, envelope)");
    const r = parsed.data;
    const job = this.running.get(r.job_id);
    if (!job || job.ended) return refuse(r.job_id, `job ${r.job_id} is not running`);
    if (meta.peer?.type !== "client" || !job.sites.includes(from)) return refuse(r.job_id, `${from} is not a site of job ${r.job_id}`);
    if (!job.sites.includes(r.to) || r.to === from) return refuse(r.job_id, `${r.to} is not another site of job ${r.job_id}`);
    let topic = "?";
    try {
      const h = peekPeerMessageHeader(r.envelope);
      // The recipient checks the signed header anyway; refusing here keeps junk off the link and the audit honest.
      if (h.job !== r.job_id || h.to !== r.to || h.from !== from)
        return refuse(r.job_id, `the envelope is addressed ${h.from} → ${h.to} in job ${h.job}, not ${from} → ${r.to} in job ${r.job_id}`);
      topic = h.topic;
    } catch (err) {
      if (isCohortError(err, RuntimeErrorCode.PeerRelay)) throw err;
      return refuse(r.job_id, "the envelope is not a sealed peer message");
    }
    const relayed = this.o.audit.append({
      action: "peer.relay",
      outcome: "ok",
      job: r.job_id,
      peer: r.to,
      reason: `${from} → ${r.to}: ${topic} (as the sender labels it), ${r.envelope.byteLength} bytes sealed`,
    });
    try {
      await this.transport.request(r.to, TOPIC_JOB_PEER_DELIVER, encode({ job_id: r.job_id, from, envelope: r.envelope, audit_ref: relayed }), {
        timeoutMs: Math.min(r.timeout_ms, MAX_PEER_RELAY_MS),
      });
    } catch (err) {
      this.o.audit.append({
        action: "peer.relay",
        outcome: "error",
        job: r.job_id,
        peer: r.to,
        ref: relayed,
        code: isCohortError(err) ? err.code : RuntimeErrorCode.PeerRelay,
        reason: (err as Error).message,
      });
      throw err;
    }
    return encode({ ok: true });
  }

  /** How job code is confined here (check_status). */
  confinementSummary(): string {
    return describeConfinement(this.o.confinement);
  }

  runningJobs(): string[] {
    return [...this.running.keys()];
  }

  /**
   * Unpacks and validates a submitted job folder: structure, configs, registered components, and
   * its signature: the signer must be the admin submitting it, and is recorded as the submitter.
   */
  private async validateArchive(
    archive: Uint8Array,
    user: { name: string; org: string; role: string },
  ): Promise<{ job: JobDefinition; submitter: { name: string; org: string; role: string } }> {
    const tmp = mkdtempSync(join(tmpdir(), "cohort-submit-"));
    try {
      await unpackArchive(archive, tmp);
      const job = loadJobFolder(tmp);
      checkComponents(job);
      let submitter = user;
      try {
        const { signer } = verifyJobManifestOf(tmp, this.o.security.rootPem, job);
        if (signer.name !== user.name)
          throw new CohortError(JobSignatureErrorCode.BadSigner, `the job is signed by ${signer.name}, not by ${user.name} who submits it`, {
            signer: signer.name,
          });
        submitter = { name: signer.name, org: signer.org, role: signer.role };
      } catch (err) {
        if (!(isCohortError(err, JobSignatureErrorCode.Unsigned) && !this.o.security.requireSignedJobs)) throw err;
      }
      const d = this.o.security.authorize?.({ right: "submit_job", user: submitter, submitter });
      if (d && !d.allowed) throw rightDenied(this.o.security.site, "submit_job", { name: user.name, role: user.role }, d.reason);
      return { job, submitter };
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
    if (available.length < m.min_clients)
      return {
        ok: false,
        waitingForSites: true,
        reason: `${available.length} of the job's sites connected (${available.join(", ") || "none"}), min_clients is ${m.min_clients}`,
      };
    const checks = await Promise.all(
      available.map(async (site) => {
        try {
          const r = z
            .object({ ok: z.boolean(), reason: z.string().optional() })
            .parse(
              decode(
                await this.transport.request(site, TOPIC_JOB_RESOURCES, encode({ job_id: m.job_id, spec: m.resource_spec[site] ?? {} }), { timeoutMs: 10_000 }),
              ),
            );
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
      if (this.o.confinement.tools) grantReadTree(appDir);
      const def = loadJobFolder(appDir);
      const serverAppName = appForSite(def.meta, "server");
      if (serverAppName) {
        const clearance = clearJobForSite(this.o.security, appDir, def, serverAppName, "server");
        for (const w of clearance.warnings) this.o.log(`job ${m.job_id}: ${w}`);
        checkConfinementFor(this.o.confinement, { jobId: m.job_id, site: "server", runsOwnCode: clearance.byoc });
      }
      // Each site's certificate, as it logged in: sites seal peer messages with them (and check them against the root).
      const peerCerts = Object.fromEntries(
        sites.flatMap((s) => {
          const pem = this.transport.session(s)?.identity.certPem;
          return pem ? [[s, pem]] : [];
        }),
      );
      const deployed = await Promise.allSettled(
        sites.map(async (site) => {
          const app = appForSite(def.meta, site);
          if (!app) throw new CohortError(RuntimeErrorCode.Deploy, `no app for ${site} in the deploy_map`, { site });
          await this.transport.request(
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
      const refusals = deployed.flatMap((d, i) =>
        d.status === "rejected" ? [`${sites[i]}: ${(d.reason as Error).message.replace(/^[^:]+ refused: /, "")}`] : [],
      );
      for (const r of refusals) {
        this.o.audit.append({ action: "job.deploy_refused", outcome: "denied", job: m.job_id, reason: r });
        this.o.log(`job ${m.job_id} refused by ${r}`);
      }
      const missingMandatory = m.mandatory_clients.filter((s) => !accepted.includes(s));
      if (accepted.length < m.min_clients || missingMandatory.length > 0) {
        await Promise.allSettled(accepted.map((s) => this.transport.send(s, TOPIC_JOB_END, encode({ job_id: m.job_id, status: "FINISHED:FAILED_TO_RUN" }))));
        throw new CohortError(
          RuntimeErrorCode.Deploy,
          `only ${accepted.length} site(s) took the job (min_clients ${m.min_clients}${missingMandatory.length ? `, mandatory ${missingMandatory.join(", ")} refused` : ""}): ${refusals.join("; ")}`,
          { refusals },
        );
      }
      job.sites.splice(0, job.sites.length, ...accepted);
      if (refusals.length) this.store.update(m.job_id, (x) => ({ ...x, job_clients: accepted, status_reason: `refused by ${refusals.join("; ")}` }));
      this.o.audit.append({ action: "job.deployed", outcome: "ok", job: m.job_id, reason: `to ${accepted.join(", ")}` });
      const serverApp = appForSite(def.meta, "server");
      const app = serverApp ? def.apps.get(serverApp) : undefined;
      if (!app?.server || !serverApp) throw new CohortError(RuntimeErrorCode.Deploy, "no server app", {});
      const runDir = this.store.workspace(m.job_id);
      job.child = new JobChild({
        jobId: m.job_id,
        readPaths: [appDir, ...this.o.dataPaths],
        writePath: runDir,
        confinement: this.o.confinement,
        onOutputLimit: (what) =>
          this.o.audit.append({
            action: "job.output",
            outcome: "denied",
            job: m.job_id,
            code: RuntimeErrorCode.OutputLimit,
            reason: `the job's output went past a limit (${what}); the rest is dropped`,
          }),
        onMessage: (msg) => this.fromChild(job, msg),
        onExit: (code, signal) => {
          if (!job.ended) void this.end(m.job_id, "FINISHED:EXECUTION_EXCEPTION", `the server job process exited unexpectedly (${signal ?? `code ${code}`})`);
        },
        log: this.o.log,
      });
      job.child.send({
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
      this.store.update(m.job_id, (x) => ({ ...x, status: "RUNNING", start_time_iso: x.start_time_iso ?? new Date().toISOString() }));
      this.o.log(`job ${m.job_id} (${m.name}) running on ${accepted.join(", ")}`);
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
        // Task flow audit, FLARE's: sent (its id travels with the task), and the site's result
        // event id comes back with the result.
        const sent = this.o.audit.append({ action: "task.sent", outcome: "ok", job: id, peer: msg.site, reason: `${msg.taskName} #${msg.taskId}` });
        this.transport
          .request(msg.site, TOPIC_JOB_TASK, encode({ job_id: id, task_id: msg.taskId, task_name: msg.taskName, payload: msg.payload, audit_ref: sent }), {
            timeoutMs: msg.timeoutMs,
          })
          .then(
            (reply) => {
              const r = taskReplySchema.parse(decode(reply));
              this.o.audit.append({
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
              this.o.audit.append({
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
        this.store.update(id, (x) => ({
          ...x,
          total_rounds: msg.totalRounds,
          rounds: [
            ...x.rounds.filter((r) => r.round !== msg.round),
            { round: msg.round, metrics: msg.metrics, sites: msg.sites, at: new Date().toISOString() },
          ],
        }));
        this.o.log(
          `job ${id.slice(0, 8)} round ${msg.round}/${msg.totalRounds} ${Object.entries(msg.metrics)
            .map(([k, v]) => `${k} ${v.toFixed(4)}`)
            .join(" ")}`,
        );
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
    this.store.update(id, (x) =>
      isFinished(x.status) ? x : { ...x, status, end_time_iso: new Date().toISOString(), ...(reason ? { status_reason: reason } : {}) },
    );
    this.o.audit.append({
      action: "job.finished",
      outcome: status === "FINISHED:COMPLETED" ? "ok" : "error",
      job: id,
      reason: `${status}${reason ? `: ${reason}` : ""}`,
    });
    this.o.log(`job ${id} ${status}${reason ? `: ${reason}` : ""}`);
    if (job) {
      await Promise.allSettled(job.sites.map((s) => this.transport.send(s, TOPIC_JOB_END, encode({ job_id: id, status }))));
      await job.child?.stop(reason ?? status, 3_000);
      this.running.delete(id);
    }
    this.schedule();
  }
}

/** A job's files by path → SHA-256, without signature files (what a clone must keep unchanged). */
function jobContent(dir: string): Record<string, string> {
  const { files } = scanJobFolder(dir);
  return Object.fromEntries(Object.entries(files).filter(([p]) => !isJobSignatureFile(p.split("/").pop() ?? p)));
}
