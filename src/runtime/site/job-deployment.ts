/**
 * A site's checks on a deployment, all before any job code runs: the job is unpacked and read,
 * its components checked, its privacy scope resolved, its signature and the submitter's rights
 * cleared (one signed submission, one job id), the site's plugins asked, the job's confinement
 * checked, and the site's gate for the job built. The order is the security order: keep it.
 */
import { rmSync, mkdirSync } from "node:fs";
import { join } from "node:path";
import { z } from "zod";
import { CohortError } from "../../errors/index.js";
import { bytesSchema } from "../../wire/index.js";
import type { AuditLog } from "../../audit/index.js";
import { unpackArchive } from "../jobs/archive.js";
import { loadJobFolder, type ClientAppConfig } from "../jobs/definition.js";
import { checkComponents } from "../jobs/component-check.js";
import { JobNonceStore } from "../jobs/nonces.js";
import { notAuthorized, clearJobForSite, type JobClearance, type SiteSecurityOptions } from "./security.js";
import { firstRefusal, type SitePlugin } from "../participant/plugins.js";
import { type HeFilterRunner, type PrivacySpend, type SitePrivacy, PrivacyErrorCode } from "../../privacy/index.js";
import { checkConfinementFor, grantReadTree, type JobConfinement } from "../sandbox/index.js";
import { SiteJobGate } from "./gate.js";
import { RuntimeErrorCode } from "../jobs/errors.js";
import { SiteSecurityErrorCode } from "./errors.js";

export const deploySchema = z.object({
  job_id: z.string().uuid(),
  job_name: z.string(),
  app: z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._-]*$/),
  archive: bytesSchema(),
  sites: z.array(z.string()),
  resume: z.boolean().default(false),
  /** The job's sites' certificates (PEM), for sealing peer messages; each is checked against the root here. */
  peer_certs: z.record(z.string(), z.string().max(32_768)).default({}),
});
export type DeployRequest = z.infer<typeof deploySchema>;

/** The site's privacy ledger's answer to one DP spend. */
export interface BudgetAnswer {
  allowed: boolean;
  reason?: string;
}

/** A job the site cleared: what its run needs. */
export interface ClearedJob {
  /** The app's config_fed_client.json. */
  readonly client: ClientAppConfig;
  readonly clearance: JobClearance;
  /** The site's checks and filters between job code and the world. */
  readonly gate: SiteJobGate;
  /** Charges a DP spend to the site's ledger in the job's privacy scope (the site's filters and job filters' requests). */
  readonly charge: (taskName: string, spend: PrivacySpend) => BudgetAnswer;
}

export interface JobDeploymentOptions {
  readonly site: string;
  readonly workspace: string;
  readonly audit: AuditLog;
  readonly log: (line: string) => void;
  readonly security: SiteSecurityOptions;
  readonly confinement: JobConfinement;
  readonly plugins?: readonly SitePlugin[] | undefined;
  readonly privacy?: SitePrivacy | undefined;
  readonly jobManifestMaxAgeDays?: number | undefined;
  /** The site's HE worker (started on first use), when the kit has a client CKKS context. */
  readonly heWorker: () => HeFilterRunner | undefined;
}

export class JobDeploymentChecks {
  /** Manifest nonces of the jobs this site deployed (kept across restarts). */
  private readonly nonces: JobNonceStore;

  constructor(private readonly o: JobDeploymentOptions) {
    this.nonces = new JobNonceStore(join(o.workspace, "job_manifest_nonces.jsonl"), o.jobManifestMaxAgeDays);
  }

  /** The job's folders in the site's workspace: the app folder, emptied for the archive, and the job's private run folder. */
  folders(jobId: string): { appRoot: string; runDir: string } {
    const dir = join(this.o.workspace, "jobs", jobId);
    const appRoot = join(dir, "app");
    const runDir = join(dir, "workspace");
    rmSync(appRoot, { recursive: true, force: true });
    mkdirSync(runDir, { recursive: true, mode: 0o700 });
    return { appRoot, runDir };
  }

  /** Unpacks the job into appRoot and clears it for this site; throws the first refusal. */
  async check(d: DeployRequest, appRoot: string): Promise<ClearedJob> {
    await unpackArchive(d.archive, appRoot);
    if (this.o.confinement.tools) grantReadTree(appRoot);
    const def = loadJobFolder(appRoot, { shownAs: `job ${d.job_id}` });
    checkComponents(def);
    // The site's privacy scope (local/privacy.json), checked before any job code starts.
    const scope = this.o.privacy?.scopeForJob(def.meta.scope);
    const clearance = clearJobForSite(this.o.security, appRoot, def, d.app);
    // One signed submission, one job id; and at first deployment, not too old.
    if (clearance.manifest) this.nonces.admit(this.o.site, d.job_id, clearance.manifest);
    for (const w of [...def.warnings, ...clearance.warnings]) {
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
    const charge = (taskName: string, spend: PrivacySpend): BudgetAnswer => this.chargeBudget(d.job_id, scope?.name, taskName, spend);
    const gate = SiteJobGate.build({
      site: this.o.site,
      jobId: d.job_id,
      app: app.client,
      scope,
      he: this.o.heWorker(),
      charge: async (taskName, spend) => {
        const r = charge(taskName, spend);
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
    return { client: app.client, clearance, gate, charge };
  }

  /** Charges a DP spend to the site's ledger (from the site's own filters or a job filter's request). */
  private chargeBudget(jobId: string, scope: string | undefined, taskName: string, spend: PrivacySpend): BudgetAnswer {
    try {
      return this.o.privacy?.charge(jobId, scope, taskName, spend) ?? { allowed: true };
    } catch (err) {
      const reason = `the privacy ledger at ${this.o.site} is unusable: ${(err as Error).message}`;
      this.o.audit.append({ action: "privacy.budget", outcome: "error", job: jobId, code: PrivacyErrorCode.Ledger, reason });
      return { allowed: false, reason };
    }
  }
}
