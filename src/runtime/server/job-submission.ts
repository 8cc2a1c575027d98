import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { CohortError, isCohortError } from "../../errors/index.js";
import { isJobSignatureFile, JobSignatureErrorCode, scanJobFolder } from "../../pki/index.js";
import { unpackArchive } from "../jobs/archive.js";
import { checkComponents } from "../jobs/component-check.js";
import { loadJobFolder, type JobDefinition } from "../jobs/definition.js";
import { rightDenied, verifyJobManifestOf, type SiteSecurityOptions } from "../site/security.js";

/** An admin as the console names them, or a job's signer as its manifest does. */
export interface Submitter {
  name: string;
  org: string;
  role: string;
}

/**
 * Unpacks and validates a submitted job folder: structure, configs, registered components, and
 * its signature: the signer must be the admin submitting it, and is recorded as the submitter.
 */
export async function validateArchive(
  archive: Uint8Array,
  user: Submitter,
  security: SiteSecurityOptions,
): Promise<{ job: JobDefinition; submitter: Submitter }> {
  return withUnpacked(archive, "cohort-submit-", (dir) => {
    const job = loadJobFolder(dir, { shownAs: "the submitted job" });
    checkComponents(job);
    let submitter = user;
    try {
      const { signer } = verifyJobManifestOf(dir, security.rootPem, job);
      if (signer.name !== user.name)
        throw new CohortError(JobSignatureErrorCode.BadSigner, `the job is signed by ${signer.name}, not by ${user.name} who submits it`, {
          signer: signer.name,
        });
      submitter = { name: signer.name, org: signer.org, role: signer.role };
    } catch (err) {
      if (!(isCohortError(err, JobSignatureErrorCode.Unsigned) && !security.requireSignedJobs)) throw err;
    }
    const d = security.authorize?.({ right: "submit_job", user: submitter, submitter });
    if (d && !d.allowed) throw rightDenied(security.site, "submit_job", { name: user.name, role: user.role }, d.reason);
    return { job, submitter };
  });
}

/**
 * clone_job's checks. The stored job must still match its manifest (when jobs must be signed);
 * a re-signed job offered back must hold the stored job's files, signature files aside, so a
 * clone never smuggles in new content.
 */
export async function checkClone(id: string, stored: Uint8Array, offered: Uint8Array | undefined, security: SiteSecurityOptions): Promise<void> {
  const content = await withUnpacked(stored, "cohort-clone-", (dir) => {
    if (security.requireSignedJobs) verifyJobManifestOf(dir, security.rootPem, loadJobFolder(dir));
    return jobContent(dir);
  });
  if (!offered) return;
  const offeredContent = await withUnpacked(offered, "cohort-clone-", (dir) => jobContent(dir));
  const differs = [...new Set([...Object.keys(content), ...Object.keys(offeredContent)])].filter((p) => content[p] !== offeredContent[p]).sort();
  if (differs.length > 0) {
    throw new CohortError(
      JobSignatureErrorCode.Tampered,
      `clone_job ${id}: the re-signed job is not the stored job (${differs.slice(0, 5).join(", ")} differ${differs.length > 5 ? ", …" : ""}); run clone_job again, or submit_job for new content`,
      { jobId: id, path: differs[0] },
    );
  }
}

/** Runs `f` on the archive unpacked into a fresh temporary folder, removed afterwards whatever happens. */
async function withUnpacked<T>(archive: Uint8Array, prefix: string, f: (dir: string) => T): Promise<T> {
  const tmp = mkdtempSync(join(tmpdir(), prefix));
  try {
    await unpackArchive(archive, tmp);
    return f(tmp);
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
}

/** A job's files by path → SHA-256, without signature files (what a clone must keep unchanged). */
function jobContent(dir: string): Record<string, string> {
  const { files } = scanJobFolder(dir);
  return Object.fromEntries(Object.entries(files).filter(([p]) => !isJobSignatureFile(p.split("/").pop() ?? p)));
}
