import { createPrivateKey, randomUUID, type KeyObject } from "node:crypto";
import { rmSync, mkdirSync } from "node:fs";
import { join } from "node:path";
import { z } from "zod";
import { CohortError, isCohortError } from "../../errors/index.js";
import { decode, encode, bytesSchema } from "../../wire/index.js";
import type { AuditLog } from "../../audit/index.js";
import { type TransportClient, typedMessage, typedRequest } from "../../transport/index.js";
import { unpackArchive } from "../jobs/archive.js";
import { JobChild } from "../sandbox/job-process.js";
import { loadJobFolder } from "../jobs/definition.js";
import { checkComponents, startsProcesses } from "../jobs/component-check.js";
import type { SiteResources } from "./resources.js";
import { JobNonceStore } from "../jobs/nonces.js";
import { notAuthorized, clearJobForSite, type SiteSecurityOptions } from "./security.js";
import { firstRefusal, type SitePlugin } from "../participant/plugins.js";
import { TOPIC_JOB_DEPLOY, TOPIC_JOB_END, TOPIC_JOB_PEER, TOPIC_JOB_PEER_DELIVER, TOPIC_JOB_RESOURCES, TOPIC_JOB_TASK } from "../participant/topics.js";
import { NonceCache, openPeerMessage, sealPeerMessage, verifyPeerCertificate } from "../../auth/index.js";
import type { FromChild } from "../sandbox/child-protocol.js";
import {
  startHeFilterWorker,
  type HeFilterRunner,
  type PrivacySpend,
  type SerializedCkksContext,
  type SitePrivacy,
  PrivacyErrorCode,
} from "../../privacy/index.js";
import { checkConfinementFor, grantReadTree, type JobConfinement } from "../sandbox/index.js";
import { SiteJobGate } from "./gate.js";
import { RuntimeErrorCode } from "../jobs/errors.js";
import { SiteSecurityErrorCode } from "./errors.js";

const bytes = bytesSchema();
const deploySchema = z.object({
  job_id: z.string().uuid(),
  job_name: z.string(),
  app: z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._-]*$/),
  archive: bytes,
  sites: z.array(z.string()),
  resume: z.boolean().default(false),
  /** The job's sites' certificates (PEM), for sealing peer messages; each is checked against the root here. */
  peer_certs: z.record(z.string(), z.string().max(32_768)).default({}),
});
const peerDeliverySchema = z.object({ job_id: z.string().uuid(), from: z.string().max(200), envelope: bytes, audit_ref: z.string().max(200).optional() });
/** A peer message's wait is bounded whatever the job code asks (setTimeout also misreads values ≥ 2^31 ms). */
const MAX_PEER_WAIT_MS = 3_600_000;
/** A sealed peer message is accepted within this much of its sealing time (then its id is remembered). */
const PEER_SKEW_MS = 5 * 60_000;
const taskSchema = z.object({ job_id: z.string().uuid(), task_id: z.string(), task_name: z.string(), payload: bytes, audit_ref: z.string().optional() });
const endSchema = z.object({ job_id: z.string().uuid(), status: z.string() });
const resourcesSchema = z.object({ job_id: z.string().uuid(), spec: z.record(z.string(), z.unknown()) });

interface SiteJob {
  readonly id: string;
  readonly child: JobChild;
  readonly ready: Promise<void>;
  readonly tasks: Map<string, { resolve: (b: Uint8Array) => void; reject: (e: Error) => void }>;
  /** The site's checks and filters between job code and the world. */
  readonly gate: SiteJobGate;
  /** Peers' certificates that chained to our root with CN = their site name. */
  readonly peerCerts: Map<string, string>;
  readonly peerNonces: NonceCache;
  readonly deliveries: Map<string, { resolve: () => void; reject: (e: Error) => void }>;
}

/**
 * The site side of jobs: answers resource checks, takes deployments (unpacks the job into the
 * site's workspace, checks it, starts the job child), runs tasks in the child and returns results,
 * and stops the child when the server ends or aborts the job.
 */
export class SiteJobManager {
  private readonly jobs = new Map<string, SiteJob>();
  private readonly kitKey: KeyObject | undefined;
  private readonly nonces: JobNonceStore;
  private he: HeFilterRunner | undefined;

  constructor(
    private readonly transport: TransportClient,
    private readonly o: {
      site: string;
      workspace: string;
      audit: AuditLog;
      log: (line: string) => void;
      resources: SiteResources;
      dataPaths: readonly string[];
      security: SiteSecurityOptions;
      confinement: JobConfinement;
      plugins?: readonly SitePlugin[];
      privacy?: SitePrivacy;
      he?: SerializedCkksContext;
      keyPem?: string;
      jobManifestMaxAgeDays?: number;
    },
  ) {
    this.nonces = new JobNonceStore(join(o.workspace, "job_manifest_nonces.jsonl"), o.jobManifestMaxAgeDays);
    // The site's kit key seals and opens peer messages; it stays in this process (never the job child's).
    this.kitKey = o.keyPem ? createPrivateKey(o.keyPem) : undefined;
  }

  start(): void {
    this.transport.handleRequest(
      TOPIC_JOB_RESOURCES,
      typedRequest(TOPIC_JOB_RESOURCES, resourcesSchema, (r) => encode(this.o.resources.check(r.job_id, r.spec))),
    );
    this.transport.handleRequest(
      TOPIC_JOB_DEPLOY,
      typedRequest(TOPIC_JOB_DEPLOY, deploySchema, async (d) => {
        await this.deploy(d);
        return encode({ ok: true });
      }),
    );
    this.transport.handleRequest(
      TOPIC_JOB_TASK,
      typedRequest(TOPIC_JOB_TASK, taskSchema, (t) => this.task(t.job_id, t.task_id, t.task_name, t.payload, t.audit_ref)),
    );
    this.transport.handleRequest(TOPIC_JOB_PEER_DELIVER, (body) => this.receivePeerMessage(body));
    this.transport.handleMessage(
      TOPIC_JOB_END,
      typedMessage(TOPIC_JOB_END, endSchema, (e) => {
        void this.stopJob(e.job_id, `the server ended the job (${e.status})`);
      }),
    );
  }

  runningJobs(): string[] {
    return [...this.jobs.keys()];
  }

  async stop(): Promise<void> {
    await Promise.allSettled([...this.jobs.keys()].map((id) => this.stopJob(id, "site stopping")));
    await this.he?.close();
  }

  private async deploy(d: z.infer<typeof deploySchema>): Promise<void> {
    if (this.jobs.has(d.job_id)) await this.stopJob(d.job_id, "redeployed");
    const dir = join(this.o.workspace, "jobs", d.job_id);
    const appRoot = join(dir, "app");
    const runDir = join(dir, "workspace");
    rmSync(appRoot, { recursive: true, force: true });
    mkdirSync(runDir, { recursive: true, mode: 0o700 });
    try {
      await unpackArchive(d.archive, appRoot);
      if (this.o.confinement.tools) grantReadTree(appRoot);
      const def = loadJobFolder(appRoot);
      checkComponents(def);
      // The site's privacy scope (local/privacy.json), checked before any job code starts.
      const scope = this.o.privacy?.scopeForJob(def.meta.scope);
      const clearance = clearJobForSite(this.o.security, appRoot, def, d.app);
      // One signed submission, one job id; and at first deployment, not too old.
      if (clearance.manifest) this.nonces.admit(this.o.site, d.job_id, clearance.manifest);
      for (const w of clearance.warnings) {
        this.o.log(`job ${d.job_id}: ${w}`);
        this.o.audit.append({ action: "job.component_warning", outcome: "ok", job: d.job_id, reason: w });
      }
      const app = def.apps.get(d.app);
      if (!app?.client) throw new CohortError(RuntimeErrorCode.Deploy, `app ${d.app} has no config_fed_client.json`, { app: d.app });
      // Site plugins see the job and each component before anything is built (in this process:
      // the job child cannot load the site's own modules).
      const plugins = this.o.plugins ?? [];
      const deployRefusal = await firstRefusal(plugins, (p) => p.onBeforeDeploy, {
        jobId: d.job_id,
        jobName: d.job_name,
        submitter: clearance.submitter,
        byoc: clearance.byoc,
      });
      if (deployRefusal) throw notAuthorized(this.o.site, deployRefusal);
      for (const c of [...app.client.components, ...app.client.executors.map((e) => e.executor)]) {
        const r = await firstRefusal(plugins, (p) => p.onBeforeComponentBuild, { jobId: d.job_id, path: c.path ?? "", args: c.args });
        if (r) throw new CohortError(SiteSecurityErrorCode.UnsafeComponent, `${this.o.site}: ${r}`, { site: this.o.site, path: c.path });
      }
      checkConfinementFor(this.o.confinement, { jobId: d.job_id, site: this.o.site, runsOwnCode: clearance.byoc });
      const gate = SiteJobGate.build({
        site: this.o.site,
        jobId: d.job_id,
        app: app.client,
        scope,
        he: this.heWorker(),
        charge: async (taskName, spend) => {
          const r = this.chargeBudget(d.job_id, scope?.name, taskName, spend);
          if (!r.allowed) throw new CohortError(PrivacyErrorCode.Budget, r.reason ?? "privacy budget refused", {});
        },
        log: (line) => this.o.log(`job ${d.job_id.slice(0, 8)}: ${line}`),
        onMetricsDropped: (taskName, dropped, why) =>
          this.o.audit.append({
            action: "job.metrics",
            outcome: "denied",
            job: d.job_id,
            code: RuntimeErrorCode.MetricsBounded,
            reason: `${taskName}: ${dropped} metric(s) dropped (${why})`,
          }),
      });
      this.o.resources.claim(d.job_id);
      const peerCerts = this.checkPeerCertificates(d);
      const deliveries = new Map<string, { resolve: () => void; reject: (e: Error) => void }>();
      const tasks = new Map<string, { resolve: (b: Uint8Array) => void; reject: (e: Error) => void }>();
      let readyResolve: () => void = () => undefined;
      let readyReject: (e: Error) => void = () => undefined;
      const ready = new Promise<void>((res, rej) => {
        readyResolve = res;
        readyReject = rej;
      });
      const child = new JobChild({
        jobId: d.job_id,
        readPaths: [appRoot, ...this.o.dataPaths],
        writePath: runDir,
        allowChildProcess: startsProcesses(app.client),
        confinement: this.o.confinement,
        onOutputLimit: (what) =>
          this.o.audit.append({
            action: "job.output",
            outcome: "denied",
            job: d.job_id,
            code: RuntimeErrorCode.OutputLimit,
            reason: `the job's output went past a limit (${what}); the rest is dropped`,
          }),
        onMessage: (m: FromChild) => {
          if (m.type === "ready") readyResolve();
          else if (m.type === "task.done" || m.type === "task.failed") {
            const p = tasks.get(m.taskId);
            // Job code answers only what it was asked, once: anything else is refused and audited.
            if (!p) return this.unexpected(d.job_id, `${m.type} for task #${m.taskId.slice(0, 100)}, which this site did not hand out or was already answered`);
            tasks.delete(m.taskId);
            if (m.type === "task.done") p.resolve(m.payload);
            else p.reject(new CohortError(m.code, `${this.o.site}: ${m.message}`, {}));
          } else if (m.type === "privacy.charge") {
            const r = this.chargeBudget(d.job_id, scope?.name, m.taskName, { filter: m.filter, epsilon: m.epsilon, delta: m.delta });
            try {
              child.send({ type: "privacy.charged", chargeId: m.chargeId, allowed: r.allowed, ...(r.reason !== undefined ? { reason: r.reason } : {}) });
            } catch {
              // the child is gone
            }
          } else if (m.type === "peer.send") {
            gate
              .peerOut(m.to, m.topic, m.payload)
              .then((payload) => this.sendPeerMessage(d.job_id, m.to, m.topic, payload, Math.min(m.timeoutMs, MAX_PEER_WAIT_MS)))
              .then(
                () => child.send({ type: "peer.sent", sendId: m.sendId, ok: true }),
                (err: Error) =>
                  child.send({
                    type: "peer.sent",
                    sendId: m.sendId,
                    ok: false,
                    code: isCohortError(err) ? err.code : RuntimeErrorCode.PeerRelay,
                    message: err.message,
                  }),
              )
              .catch(() => undefined);
          } else if (m.type === "peer.delivered") {
            const p = deliveries.get(m.deliveryId);
            if (!p)
              return this.unexpected(
                d.job_id,
                `peer.delivered for delivery ${m.deliveryId.slice(0, 100)}, which this site did not hand over or was already answered`,
              );
            deliveries.delete(m.deliveryId);
            if (m.ok) p?.resolve();
            else p?.reject(new CohortError(m.code ?? RuntimeErrorCode.PeerRefused, `${this.o.site}: ${m.message ?? "the job did not take the message"}`, {}));
          } else if (m.type === "log") this.o.log(`job ${d.job_id.slice(0, 8)} ${m.level}: ${m.line}`);
          else if (m.type === "done" && m.status !== "FINISHED:COMPLETED") readyReject(new CohortError(RuntimeErrorCode.Child, m.reason ?? m.status, {}));
        },
        onExit: (code, signal) => {
          const err = new CohortError(RuntimeErrorCode.Child, `the job process at ${this.o.site} exited (${signal ?? `code ${code}`})`, {});
          readyReject(err);
          for (const p of tasks.values()) p.reject(err);
          tasks.clear();
          for (const p of deliveries.values()) p.reject(err);
          deliveries.clear();
          if (this.jobs.get(d.job_id)?.child === child) {
            // Not stopped by the site: the job process died (out of memory, killed, crashed).
            this.o.audit.append({
              action: "job.process_exited",
              outcome: "error",
              job: d.job_id,
              code: RuntimeErrorCode.Child,
              reason: `the job process exited on its own (${signal ?? `code ${code}`})`,
            });
            this.jobs.delete(d.job_id);
            this.o.resources.release(d.job_id);
          }
        },
        log: this.o.log,
      });
      this.jobs.set(d.job_id, { id: d.job_id, child, ready, tasks, gate, peerCerts, peerNonces: new NonceCache(PEER_SKEW_MS), deliveries });
      // No privacy scope and no CKKS context: the site applies both itself (site-gate.ts).
      child.send({
        type: "init",
        role: "client",
        jobId: d.job_id,
        jobName: d.job_name,
        site: this.o.site,
        appDir: join(appRoot, d.app),
        runDir,
        sites: d.sites,
        client: app.client,
        resume: d.resume,
        gated: true,
      });
      await ready;
      this.o.audit.append({
        action: "job.deployed",
        outcome: "ok",
        job: d.job_id,
        ...(clearance.submitter ? { user: clearance.submitter.name } : {}),
        reason: `app ${d.app}${clearance.byoc ? " (byoc)" : ""}; ${this.o.confinement.tools ? "confined by bubblewrap" : "NOT confined by the operating system"}`,
      });
      this.o.log(`job ${d.job_id} (${d.job_name}) deployed`);
    } catch (err) {
      this.o.audit.append({
        action: "job.deploy",
        outcome: "denied",
        job: d.job_id,
        code: isCohortError(err) ? err.code : RuntimeErrorCode.Deploy,
        reason: (err as Error).message,
      });
      this.o.log(`job ${d.job_id} refused: ${(err as Error).message}`);
      await this.stopJob(d.job_id, "deployment failed");
      throw err;
    }
  }

  /**
   * Runs a task in the job child. Audited as FLARE does, each event referencing its peer's: task
   * received (ref = the server's "sent" event), executed, result returned (its id goes back to the
   * server with the result).
   */
  private async task(jobId: string, taskId: string, taskName: string, payload: Uint8Array, ref: string | undefined): Promise<Uint8Array> {
    const job = this.jobs.get(jobId);
    if (!job) throw new CohortError(RuntimeErrorCode.JobNotFound, `job ${jobId} is not running at ${this.o.site}`, { jobId });
    await job.ready;
    const received = this.o.audit.append({
      action: "task.received",
      outcome: "ok",
      job: jobId,
      ...(ref ? { ref } : {}),
      reason: `${taskName} #${taskId} from the server`,
    });
    try {
      const data = await job.gate.taskIn(taskName, payload);
      if (job.tasks.has(taskId)) throw new CohortError(RuntimeErrorCode.UnexpectedMessage, `task #${taskId} is already running at ${this.o.site}`, {});
      const raw = await new Promise<Uint8Array>((resolve, reject) => {
        job.tasks.set(taskId, { resolve, reject });
        job.child.send({ type: "task.run", taskId, taskName, payload: data.bytes });
      });
      const result = await job.gate.resultOut(taskName, raw, data.reference);
      const executed = this.o.audit.append({ action: "task.executed", outcome: "ok", job: jobId, ref: received, reason: `${taskName} #${taskId}` });
      const returned = this.o.audit.append({
        action: "task.result_returned",
        outcome: "ok",
        job: jobId,
        ref: executed,
        reason: `${taskName} #${taskId}: ${result.byteLength} bytes`,
      });
      return encode({ payload: result, audit_ref: returned });
    } catch (err) {
      this.o.audit.append({
        action: "task.executed",
        outcome: "error",
        job: jobId,
        ref: received,
        code: isCohortError(err) ? err.code : RuntimeErrorCode.TaskFailed,
        reason: (err as Error).message,
      });
      throw err;
    }
  }

  /** The site's HE worker thread, started on first use: the only place the CKKS secret key is used. */
  private heWorker(): HeFilterRunner | undefined {
    if (!this.o.he) return undefined;
    return (this.he ??= startHeFilterWorker(this.o.he));
  }

  /** Charges a DP spend to the site's ledger (from the site's own filters or a job filter's request). */
  private chargeBudget(jobId: string, scope: string | undefined, taskName: string, spend: PrivacySpend): { allowed: boolean; reason?: string } {
    try {
      return this.o.privacy?.charge(jobId, scope, taskName, spend) ?? { allowed: true };
    } catch (err) {
      const reason = `the privacy ledger at ${this.o.site} is unusable: ${(err as Error).message}`;
      this.o.audit.append({ action: "privacy.budget", outcome: "error", job: jobId, code: PrivacyErrorCode.Ledger, reason });
      return { allowed: false, reason };
    }
  }

  /** A message from job code that answers nothing the site asked: refused, audited, the job goes on. */
  private unexpected(jobId: string, what: string): void {
    this.o.audit.append({ action: "job.message", outcome: "denied", job: jobId, code: RuntimeErrorCode.UnexpectedMessage, reason: what });
    this.o.log(`job ${jobId.slice(0, 8)}: refused ${what}`);
  }

  /** The job's peers' certificates that chain to our root with the right name; others are left out (and said why). */
  private checkPeerCertificates(d: z.infer<typeof deploySchema>): Map<string, string> {
    const out = new Map<string, string>();
    for (const [site, pem] of Object.entries(d.peer_certs)) {
      if (site === this.o.site || !d.sites.includes(site)) continue;
      try {
        verifyPeerCertificate(pem, this.o.security.rootPem, { name: site, type: "client" });
        out.set(site, pem);
      } catch (err) {
        this.o.audit.append({
          action: "peer.certificate",
          outcome: "denied",
          job: d.job_id,
          peer: site,
          code: isCohortError(err) ? err.code : RuntimeErrorCode.PeerRefused,
          reason: (err as Error).message,
        });
        this.o.log(`job ${d.job_id}: ${site}'s certificate from the server is not usable for peer messages: ${(err as Error).message}`);
      }
    }
    return out;
  }

  /** Seals a message from this site's job for another site (its certificate, our kit key) and has the server relay it. */
  private async sendPeerMessage(jobId: string, to: string, topic: string, payload: Uint8Array, timeoutMs: number): Promise<void> {
    const job = this.jobs.get(jobId);
    const cert = job?.peerCerts.get(to);
    if (!job || !cert || !this.kitKey)
      throw new CohortError(
        RuntimeErrorCode.PeerRefused,
        `${this.o.site} cannot seal a message for ${to}: ${!this.kitKey ? "this site has no kit key loaded" : `no verified certificate for ${to} in job ${jobId}`}`,
        { to },
      );
    const envelope = sealPeerMessage({ job: jobId, from: this.o.site, to, topic, payload, senderKey: this.kitKey, recipientCertPem: cert });
    await this.transport.request(TOPIC_JOB_PEER, encode({ job_id: jobId, to, envelope, timeout_ms: timeoutMs }), { timeoutMs });
    this.o.audit.append({ action: "peer.sent", outcome: "ok", job: jobId, peer: to, reason: `${topic}: ${payload.byteLength} bytes, sealed for ${to}` });
  }

  /** A message relayed by the server: opened only if sealed for us by a peer of the job, fresh and never seen. */
  private async receivePeerMessage(body: Uint8Array): Promise<Uint8Array> {
    let r: z.infer<typeof peerDeliverySchema>;
    try {
      r = peerDeliverySchema.parse(decode(body));
    } catch {
      this.o.audit.append({
        action: "peer.received",
        outcome: "denied",
        code: RuntimeErrorCode.PeerRefused,
        reason: "not a peer message delivery (job_id, from, envelope)",
      });
      throw new CohortError(RuntimeErrorCode.PeerRefused, `${this.o.site}: not a peer message delivery`, {});
    }
    const job = this.jobs.get(r.job_id);
    try {
      if (!job) throw new CohortError(RuntimeErrorCode.JobNotFound, `job ${r.job_id} is not running at ${this.o.site}`, { jobId: r.job_id });
      const cert = job.peerCerts.get(r.from);
      if (!cert || !this.kitKey)
        throw new CohortError(RuntimeErrorCode.PeerRefused, `${this.o.site} has no verified certificate for ${r.from} in job ${r.job_id}`, { from: r.from });
      const opened = openPeerMessage(r.envelope, {
        job: r.job_id,
        me: this.o.site,
        from: r.from,
        senderCertPem: cert,
        recipientKey: this.kitKey,
        nonces: job.peerNonces,
        skewMs: PEER_SKEW_MS,
      });
      await job.ready;
      job.gate.peerIn(opened.payload);
      const deliveryId = randomUUID();
      await new Promise<void>((resolve, reject) => {
        job.deliveries.set(deliveryId, { resolve, reject });
        job.child.send({ type: "peer.message", deliveryId, from: r.from, topic: opened.header.topic, payload: opened.payload });
      });
      this.o.audit.append({
        action: "peer.received",
        outcome: "ok",
        job: r.job_id,
        peer: r.from,
        ...(r.audit_ref ? { ref: r.audit_ref } : {}),
        reason: `${opened.header.topic}: ${opened.payload.byteLength} bytes from ${r.from}`,
      });
      return encode({ ok: true });
    } catch (err) {
      this.o.audit.append({
        action: "peer.received",
        outcome: "denied",
        job: r.job_id,
        peer: r.from,
        ...(r.audit_ref ? { ref: r.audit_ref } : {}),
        code: isCohortError(err) ? err.code : RuntimeErrorCode.PeerRefused,
        reason: (err as Error).message,
      });
      throw err;
    }
  }

  private async stopJob(jobId: string, reason: string): Promise<void> {
    const job = this.jobs.get(jobId);
    this.jobs.delete(jobId);
    this.o.resources.release(jobId);
    if (job) {
      await job.child.stop(reason);
      this.o.log(`job ${jobId} stopped: ${reason}`);
    }
  }
}
