import { CohortError, isCohortError } from "../../errors/index.js";
import { JobSignatureErrorCode, verifyJobManifest, type JobManifest, type JobSigner } from "../../pki/index.js";
import { componentFor, registeredComponentPaths } from "../components/registry.js";
import { startsProcesses } from "../jobs/component-check.js";
import type { ComponentConfig, JobApp, JobDefinition } from "../jobs/definition.js";
import "../components/builtins.js";
import { RuntimeErrorCode } from "../jobs/errors.js";
import { SiteSecurityErrorCode } from "./errors.js";

/** FLARE's NOT_AUTHORIZED refusal, written one way everywhere: who refused, and why. */
export function notAuthorized(by: string, reason: string, details: Record<string, unknown> = {}): CohortError {
  return new CohortError(SiteSecurityErrorCode.NotAuthorized, `NOT_AUTHORIZED by ${by}: ${reason}`, { site: by, ...details });
}

/** A policy decision against `who` for `right`, as {@link notAuthorized}. */
export function rightDenied(
  by: string,
  right: string,
  who: { name: string; role: string; org?: string },
  reason: string,
  details: Record<string, unknown> = {},
): CohortError {
  return notAuthorized(by, `${right} for ${who.name} (${who.role}${who.org === undefined ? "" : `, ${who.org}`}): ${reason}`, details);
}

/** A site's answer to "may this user exercise this right here?" (the federated policy engine). */
export type AuthorizeFn = (request: {
  right: string;
  user: { name: string; org: string; role: string };
  submitter?: { name: string; org: string; role: string };
}) => { allowed: boolean; reason: string };

export interface ComponentPolicy {
  /** Exact paths or prefixes ending in "." ("*" = all); undefined = Cohort's built-ins. */
  readonly allowList?: readonly string[];
  readonly mode: "enforce" | "warn";
}

export interface SiteSecurityOptions {
  readonly site: string;
  readonly rootPem: string;
  /** fed_*.json `require_signed_jobs` (default true). */
  readonly requireSignedJobs: boolean;
  /** The site's authorization policy; undefined = no policy file: everything allowed (FLARE's rule). */
  readonly authorize?: AuthorizeFn;
  readonly components: ComponentPolicy;
}

export interface JobClearance {
  /** Who submitted the job, from its verified signature (never from meta.json). */
  readonly submitter: JobSigner | undefined;
  /** The job's verified manifest (undefined for an unsigned job where require_signed_jobs is false). */
  readonly manifest: JobManifest | undefined;
  readonly byoc: boolean;
  readonly warnings: readonly string[];
}

/** The components this participant will build: the server's config or a site's. */
function appComponents(app: JobApp, role: "server" | "client"): ComponentConfig[] {
  if (role === "server") return app.server ? [...app.server.components, ...app.server.workflows] : [];
  return app.client ? [...app.client.components, ...app.client.executors.map((e) => e.executor)] : [];
}

function allowed(path: string, list: readonly string[]): boolean {
  return list.some((entry) => entry === "*" || entry === path || (entry.endsWith(".") ? path.startsWith(entry) : path.startsWith(`${entry}.`)));
}

/** The job's manifest, verified, and naming the job that meta.json names. */
export function verifyJobManifestOf(jobDir: string, rootPem: string, def: JobDefinition): { signer: JobSigner; manifest: JobManifest } {
  const { signer, manifest } = verifyJobManifest(jobDir, rootPem);
  if (manifest.job_name !== def.meta.name) {
    throw new CohortError(
      JobSignatureErrorCode.BadManifest,
      `the manifest's job_name ${JSON.stringify(manifest.job_name)} is not meta.json's name ${JSON.stringify(def.meta.name)}: the files belong to another job; sign the job again`,
      { field: "job_name", value: manifest.job_name },
    );
  }
  return { signer, manifest };
}

/**
 * What a site checks before it deploys a job (FLARE's deploy path, made stricter): the job's
 * signature (the submitter is whoever signed it), the submitter's `submit_job` right and, for jobs
 * that bring their own code (custom/ or a component that starts processes), the `byoc` right; and
 * for other jobs every component against the site's allow-list. Throws ERR_NOT_AUTHORIZED,
 * ERR_JOB_UNSAFE_COMPONENT or a signature error, with a reason naming this site.
 */
export function clearJobForSite(
  o: SiteSecurityOptions,
  jobDir: string,
  def: JobDefinition,
  appName: string,
  role: "server" | "client" = "client",
): JobClearance {
  const warnings: string[] = [];
  let submitter: JobSigner | undefined;
  let manifest: JobManifest | undefined;
  try {
    ({ signer: submitter, manifest } = verifyJobManifestOf(jobDir, o.rootPem, def));
  } catch (err) {
    if (!(isCohortError(err, JobSignatureErrorCode.Unsigned) && !o.requireSignedJobs)) {
      throw new CohortError(
        isCohortError(err) ? err.code : JobSignatureErrorCode.Tampered,
        `${o.site}: ${(err as Error).message}`,
        { site: o.site },
        { cause: err },
      );
    }
    warnings.push(`${o.site}: the job is unsigned (require_signed_jobs is false here)`);
  }
  const app = def.apps.get(appName);
  if (!app) throw new CohortError(RuntimeErrorCode.BadJob, `${o.site}: app ${appName} is not in the job`, { site: o.site });
  const byoc = app.byoc || (app.client ? startsProcesses(app.client) : false);
  if (o.authorize) {
    if (!submitter) throw notAuthorized(o.site, "an unsigned job has no verifiable submitter");
    const user = { name: submitter.name, org: submitter.org, role: submitter.role };
    for (const right of byoc ? ["submit_job", "byoc"] : ["submit_job"]) {
      const d = o.authorize({ right, user, submitter: user });
      if (!d.allowed) throw rightDenied(o.site, right, submitter, d.reason, { right });
    }
  }
  if (!byoc) {
    const list = o.components.allowList ?? registeredComponentPaths();
    for (const c of appComponents(app, role)) {
      const path = c.path ?? "";
      if (allowed(path, list) && (o.components.allowList !== undefined || componentFor(path))) continue;
      const message = `${o.site}: component ${JSON.stringify(path)}${c.id ? ` (id ${c.id})` : ""} is not in this site's class_allow_list`;
      if (o.components.mode === "enforce") throw new CohortError(SiteSecurityErrorCode.UnsafeComponent, message, { site: o.site, path });
      warnings.push(`${message}; allowed because class_list_enforcement_mode is warn`);
    }
  }
  return { submitter, manifest, byoc, warnings };
}
