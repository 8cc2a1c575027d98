import { z } from "zod";
import { CohortError, isCohortError } from "../../errors/index.js";
import { encode, bytesSchema } from "../../wire/index.js";
import type { AuditLog } from "../../audit/index.js";
import { type TransportClient, typedMessage, typedRequest } from "../../transport/index.js";
import type { SiteResources } from "./resources.js";
import type { SiteSecurityOptions } from "./security.js";
import type { SitePlugin } from "../participant/plugins.js";
import { TOPIC_JOB_DEPLOY, TOPIC_JOB_END, TOPIC_JOB_PEER_DELIVER, TOPIC_JOB_RESOURCES, TOPIC_JOB_TASK } from "../participant/topics.js";
import { startHeFilterWorker, type HeFilterRunner, type SerializedCkksContext, type SitePrivacy } from "../../privacy/index.js";
import type { JobConfinement } from "../sandbox/index.js";
import { RuntimeErrorCode } from "../jobs/errors.js";
import { deploySchema, JobDeploymentChecks, type DeployRequest } from "./job-deployment.js";
import { SitePeerMessages } from "./peer-messages.js";
import { SiteJobRun } from "./site-job-run.js";

const taskSchema = z.object({
  job_id: z.string().uuid(),
  task_id: z.string(),
  task_name: z.string(),
  payload: bytesSchema(),
  audit_ref: z.string().optional(),
});
const endSchema = z.object({ job_id: z.string().uuid(), status: z.string() });
const resourcesSchema = z.object({ job_id: z.string().uuid(), spec: z.record(z.string(), z.unknown()) });

/**
 * The site side of jobs: answers resource checks, takes deployments (unpacks the job into the
 * site's workspace, checks it, starts the job child), runs tasks in the child and returns results,
 * and stops the child when the server ends or aborts the job. The work is done by the deployment
 * checks (job-deployment.ts), each job's run (site-job-run.ts) and the peer messages
 * (peer-messages.ts); this keeps the site's jobs and their lifecycle.
 */
export class SiteJobManager {
  private readonly jobs = new Map<string, SiteJobRun>();
  private readonly deployment: JobDeploymentChecks;
  private readonly peers: SitePeerMessages;
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
    this.deployment = new JobDeploymentChecks({
      site: o.site,
      workspace: o.workspace,
      audit: o.audit,
      log: o.log,
      security: o.security,
      confinement: o.confinement,
      plugins: o.plugins,
      privacy: o.privacy,
      jobManifestMaxAgeDays: o.jobManifestMaxAgeDays,
      heWorker: () => this.heWorker(),
    });
    this.peers = new SitePeerMessages(transport, {
      site: o.site,
      security: o.security,
      audit: o.audit,
      log: o.log,
      keyPem: o.keyPem,
      runOf: (jobId) => this.jobs.get(jobId),
    });
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
    this.transport.handleRequest(TOPIC_JOB_PEER_DELIVER, (body) => this.peers.receivePeerMessage(body));
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

  private async deploy(d: DeployRequest): Promise<void> {
    if (this.jobs.has(d.job_id)) await this.stopJob(d.job_id, "redeployed");
    const { appRoot, runDir } = this.deployment.folders(d.job_id);
    try {
      const job = await this.deployment.check(d, appRoot);
      this.o.resources.claim(d.job_id);
      const peers = this.peers.checkPeerCertificates(d.job_id, d.sites, d.peer_certs);
      const run = new SiteJobRun({
        site: this.o.site,
        audit: this.o.audit,
        log: this.o.log,
        request: d,
        job,
        appRoot,
        runDir,
        peers,
        dataPaths: this.o.dataPaths,
        confinement: this.o.confinement,
        gpus: this.o.resources.gpusOf(d.job_id),
        sendPeerMessage: (to, topic, payload, timeoutMs) => this.peers.sendPeerMessage(d.job_id, to, topic, payload, timeoutMs),
        onExit: (exited, how) => this.exited(exited, how),
      });
      this.jobs.set(d.job_id, run);
      await run.begin();
      this.o.audit.append({
        action: "job.deployed",
        outcome: "ok",
        job: d.job_id,
        ...(job.clearance.submitter ? { user: job.clearance.submitter.name } : {}),
        reason: `app ${d.app}${job.clearance.byoc ? " (byoc)" : ""}; ${this.o.confinement.tools ? "confined by bubblewrap" : "NOT confined by the operating system"}`,
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

  private async task(jobId: string, taskId: string, taskName: string, payload: Uint8Array, ref: string | undefined): Promise<Uint8Array> {
    const job = this.jobs.get(jobId);
    if (!job) throw new CohortError(RuntimeErrorCode.JobNotFound, `job ${jobId} is not running at ${this.o.site}`, { jobId });
    return job.runTask(taskId, taskName, payload, ref);
  }

  /** A job child exited: if the run is still the job's (not stopped by the site), the job process died (out of memory, killed, crashed). */
  private exited(run: SiteJobRun, how: string): void {
    if (this.jobs.get(run.id) !== run) return;
    this.o.audit.append({
      action: "job.process_exited",
      outcome: "error",
      job: run.id,
      code: RuntimeErrorCode.Child,
      reason: `the job process exited on its own (${how})`,
    });
    this.jobs.delete(run.id);
    this.o.resources.release(run.id);
  }

  /** The site's HE worker thread, started on first use: the only place the CKKS secret key is used. */
  private heWorker(): HeFilterRunner | undefined {
    if (!this.o.he) return undefined;
    return (this.he ??= startHeFilterWorker(this.o.he));
  }

  private async stopJob(jobId: string, reason: string): Promise<void> {
    const job = this.jobs.get(jobId);
    this.jobs.delete(jobId);
    this.o.resources.release(jobId);
    if (job) await job.stop(reason);
  }
}
