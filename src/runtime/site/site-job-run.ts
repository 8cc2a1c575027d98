/**
 * One deployed job at a site: its job child, what the child may ask of the site (each request
 * checked here, in the site process), the tasks and peer deliveries the site handed it, and the
 * site's gate around every task. Job code answers only what it was asked, once.
 */
import { randomUUID } from "node:crypto";
import { join } from "node:path";
import { CohortError, isCohortError } from "../../errors/index.js";
import { encode } from "../../wire/index.js";
import type { AuditLog } from "../../audit/index.js";
import { JobChild } from "../sandbox/job-process.js";
import { startsProcesses } from "../jobs/component-check.js";
import type { FromChild } from "../sandbox/child-protocol.js";
import { outputLimitAuditor, type JobConfinement } from "../sandbox/index.js";
import { RuntimeErrorCode } from "../jobs/errors.js";
import type { ClearedJob, DeployRequest } from "./job-deployment.js";
import type { JobPeers } from "./peer-messages.js";

/** A peer message's wait is bounded whatever the job code asks (setTimeout also misreads values ≥ 2^31 ms). */
const MAX_PEER_WAIT_MS = 3_600_000;

export interface SiteJobRunOptions {
  readonly site: string;
  readonly audit: AuditLog;
  readonly log: (line: string) => void;
  /** The deployment as the server sent it, and what the site's checks made of it. */
  readonly request: DeployRequest;
  readonly job: ClearedJob;
  readonly appRoot: string;
  readonly runDir: string;
  readonly peers: JobPeers;
  readonly dataPaths: readonly string[];
  readonly confinement: JobConfinement;
  /** The GPU device ids the site reserved for the job (empty: none). */
  readonly gpus?: readonly number[];
  /** Seals a message of the job's for another site and has the server relay it. */
  readonly sendPeerMessage: (to: string, topic: string, payload: Uint8Array, timeoutMs: number) => Promise<void>;
  /** The job child exited (after pending tasks and deliveries were refused); how = its signal or exit code. */
  readonly onExit: (run: SiteJobRun, how: string) => void;
}

export class SiteJobRun {
  readonly id: string;
  readonly peers: JobPeers;
  private readonly child: JobChild;
  private readonly ready: Promise<void>;
  private readyResolve: () => void = () => undefined;
  private readyReject: (e: Error) => void = () => undefined;
  private readonly tasks = new Map<string, { resolve: (b: Uint8Array) => void; reject: (e: Error) => void }>();
  private readonly deliveries = new Map<string, { resolve: () => void; reject: (e: Error) => void }>();

  /** Starts the job child; {@link begin} then hands it the job. */
  constructor(private readonly o: SiteJobRunOptions) {
    this.id = o.request.job_id;
    this.peers = o.peers;
    this.ready = new Promise<void>((res, rej) => {
      this.readyResolve = res;
      this.readyReject = rej;
    });
    this.child = new JobChild({
      jobId: this.id,
      readPaths: [o.appRoot, ...o.dataPaths],
      writePath: o.runDir,
      allowChildProcess: startsProcesses(o.job.client),
      confinement: o.confinement,
      ...(o.gpus ? { gpus: o.gpus } : {}),
      onOutputLimit: outputLimitAuditor(o.audit, this.id),
      onMessage: (m) => this.onMessage(m),
      onExit: (code, signal) => {
        const err = new CohortError(RuntimeErrorCode.Child, `the job process at ${o.site} exited (${signal ?? `code ${code}`})`, {});
        this.readyReject(err);
        for (const p of this.tasks.values()) p.reject(err);
        this.tasks.clear();
        for (const p of this.deliveries.values()) p.reject(err);
        this.deliveries.clear();
        o.onExit(this, signal ?? `code ${code}`);
      },
      log: o.log,
    });
  }

  /** Hands the child its job and waits until it is ready (rejects if it fails or exits first). */
  async begin(): Promise<void> {
    const d = this.o.request;
    // No privacy scope and no CKKS context: the site applies both itself (gate.ts).
    this.child.send({
      type: "init",
      role: "client",
      jobId: d.job_id,
      jobName: d.job_name,
      site: this.o.site,
      appDir: join(this.o.appRoot, d.app),
      runDir: this.o.runDir,
      sites: d.sites,
      client: this.o.job.client,
      resume: d.resume,
      gated: true,
    });
    await this.ready;
  }

  /**
   * Runs a task in the job child. Audited as FLARE does, each event referencing its peer's: task
   * received (ref = the server's "sent" event), executed, result returned (its id goes back to the
   * server with the result).
   */
  async runTask(taskId: string, taskName: string, payload: Uint8Array, ref: string | undefined): Promise<Uint8Array> {
    const { audit, site } = this.o;
    const { gate } = this.o.job;
    await this.ready;
    const received = audit.append({
      action: "task.received",
      outcome: "ok",
      job: this.id,
      ...(ref ? { ref } : {}),
      reason: `${taskName} #${taskId} from the server`,
    });
    try {
      const data = await gate.taskIn(taskName, payload);
      if (this.tasks.has(taskId)) throw new CohortError(RuntimeErrorCode.UnexpectedMessage, `task #${taskId} is already running at ${site}`, {});
      const raw = await new Promise<Uint8Array>((resolve, reject) => {
        this.tasks.set(taskId, { resolve, reject });
        this.child.send({ type: "task.run", taskId, taskName, payload: data.bytes });
      });
      const result = await gate.resultOut(taskName, raw, data.reference);
      const executed = audit.append({ action: "task.executed", outcome: "ok", job: this.id, ref: received, reason: `${taskName} #${taskId}` });
      const returned = audit.append({
        action: "task.result_returned",
        outcome: "ok",
        job: this.id,
        ref: executed,
        reason: `${taskName} #${taskId}: ${result.byteLength} bytes`,
      });
      return encode({ payload: result, audit_ref: returned });
    } catch (err) {
      audit.append({
        action: "task.executed",
        outcome: "error",
        job: this.id,
        ref: received,
        code: isCohortError(err) ? err.code : RuntimeErrorCode.TaskFailed,
        reason: (err as Error).message,
      });
      throw err;
    }
  }

  /** Hands an opened peer message to the job, through the gate; resolves when the job took it. */
  async deliverPeerMessage(from: string, topic: string, payload: Uint8Array): Promise<void> {
    await this.ready;
    this.o.job.gate.peerIn(payload);
    const deliveryId = randomUUID();
    await new Promise<void>((resolve, reject) => {
      this.deliveries.set(deliveryId, { resolve, reject });
      this.child.send({ type: "peer.message", deliveryId, from, topic, payload });
    });
  }

  /** Stops the job child (the caller has already let go of the run). */
  async stop(reason: string): Promise<void> {
    await this.child.stop(reason);
    this.o.log(`job ${this.id} stopped: ${reason}`);
  }

  private onMessage(m: FromChild): void {
    const { site } = this.o;
    if (m.type === "ready") this.readyResolve();
    else if (m.type === "task.done" || m.type === "task.failed") {
      const p = this.tasks.get(m.taskId);
      // Job code answers only what it was asked, once: anything else is refused and audited.
      if (!p) {
        this.unexpected(`${m.type} for task #${m.taskId.slice(0, 100)}, which this site did not hand out or was already answered`);
        return;
      }
      this.tasks.delete(m.taskId);
      if (m.type === "task.done") p.resolve(m.payload);
      else p.reject(new CohortError(m.code, `${site}: ${m.message}`, {}));
    } else if (m.type === "privacy.charge") {
      const r = this.o.job.charge(m.taskName, { filter: m.filter, epsilon: m.epsilon, delta: m.delta });
      try {
        this.child.send({ type: "privacy.charged", chargeId: m.chargeId, allowed: r.allowed, ...(r.reason !== undefined ? { reason: r.reason } : {}) });
      } catch {
        // the child is gone
      }
    } else if (m.type === "peer.send") {
      this.o.job.gate
        .peerOut(m.to, m.topic, m.payload)
        .then((payload) => this.o.sendPeerMessage(m.to, m.topic, payload, Math.min(m.timeoutMs, MAX_PEER_WAIT_MS)))
        .then(
          () => this.child.send({ type: "peer.sent", sendId: m.sendId, ok: true }),
          (err: Error) =>
            this.child.send({
              type: "peer.sent",
              sendId: m.sendId,
              ok: false,
              code: isCohortError(err) ? err.code : RuntimeErrorCode.PeerRelay,
              message: err.message,
            }),
        )
        .catch(() => undefined);
    } else if (m.type === "peer.delivered") {
      const p = this.deliveries.get(m.deliveryId);
      if (!p) {
        this.unexpected(`peer.delivered for delivery ${m.deliveryId.slice(0, 100)}, which this site did not hand over or was already answered`);
        return;
      }
      this.deliveries.delete(m.deliveryId);
      if (m.ok) p.resolve();
      else p.reject(new CohortError(m.code ?? RuntimeErrorCode.PeerRefused, `${site}: ${m.message ?? "the job did not take the message"}`, {}));
    } else if (m.type === "log") this.o.log(`job ${this.id.slice(0, 8)} ${m.level}: ${m.line}`);
    else if (m.type === "done" && m.status !== "FINISHED:COMPLETED") this.readyReject(new CohortError(RuntimeErrorCode.Child, m.reason ?? m.status, {}));
  }

  /** A message from job code that answers nothing the site asked: refused, audited, the job goes on. */
  private unexpected(what: string): void {
    this.o.audit.append({ action: "job.message", outcome: "denied", job: this.id, code: RuntimeErrorCode.UnexpectedMessage, reason: what });
    this.o.log(`job ${this.id.slice(0, 8)}: refused ${what}`);
  }
}
