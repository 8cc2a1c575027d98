import { appendFileSync, chmodSync, existsSync, mkdirSync, readFileSync } from "node:fs";
import { dirname } from "node:path";
import { z } from "zod";
import { CohortError } from "../../errors/index.js";
import { JobSignatureErrorCode, type JobManifest } from "../../pki/index.js";

/** local/resources.json `job_manifest_max_age_days` when absent. */
export const DEFAULT_JOB_MANIFEST_MAX_AGE_DAYS = 30;
/** A manifest dated later than this ahead of the site's clock is refused too (a clock far off, or a forged date). */
const MAX_FUTURE_MS = 3_600_000;

const nonceLine = z.strictObject({ nonce: z.string().regex(/^[0-9a-f]{64}$/), job: z.string().min(1).max(200), at: z.number().int() });

/**
 * The job manifests a site has deployed, by nonce (workspace/job_manifest_nonces.jsonl, 0600,
 * reloaded at start): a signed job replayed under another job id is refused, while the same job
 * id deployed again (a resumed job after a restart) is not a replay. Kept for good: a site sees few
 * jobs, and a resumed job must still be recognised however old it is.
 */
export class JobNonceStore {
  private readonly seen = new Map<string, string>();

  constructor(
    private readonly file: string,
    private readonly maxAgeDays = DEFAULT_JOB_MANIFEST_MAX_AGE_DAYS,
  ) {
    mkdirSync(dirname(file), { recursive: true, mode: 0o700 });
    if (!existsSync(file)) return;
    // A damaged line (a crash mid-append) is skipped: the rest still protects.
    for (const line of readFileSync(file, "utf8").split("\n")) {
      if (!line.trim()) continue;
      const e = nonceLine.safeParse(
        (() => {
          try {
            return JSON.parse(line) as unknown;
          } catch {
            return undefined;
          }
        })(),
      );
      if (e.success && !this.seen.has(e.data.nonce)) this.seen.set(e.data.nonce, e.data.job);
    }
  }

  /**
   * Admits a manifest for `jobId`: refuses a nonce seen under another job id (ERR_JOB_REPLAYED)
   * and, at first deployment, a manifest older than the maximum age or dated in the future
   * (ERR_JOB_MANIFEST_EXPIRED). Records the nonce on disk before answering yes.
   */
  admit(site: string, jobId: string, manifest: JobManifest, now = Date.now()): void {
    const earlier = this.seen.get(manifest.nonce);
    if (earlier === jobId) return;
    if (earlier !== undefined) {
      throw new CohortError(
        JobSignatureErrorCode.Replayed,
        `${site}: the job's manifest (nonce ${manifest.nonce.slice(0, 16)}…, signed ${manifest.submitted_at}) was already deployed here as job ${earlier}; a signed job runs under one job id: submit it again (or clone_job) to run it again`,
        { site, field: "nonce", value: manifest.nonce, job: earlier },
      );
    }
    const at = Date.parse(manifest.submitted_at);
    const ageDays = (now - at) / 86_400_000;
    if (!Number.isFinite(at) || ageDays > this.maxAgeDays) {
      throw new CohortError(
        JobSignatureErrorCode.Expired,
        `${site}: the job's manifest was signed ${manifest.submitted_at}, ${Math.floor(ageDays)} days ago, more than job_manifest_max_age_days (${this.maxAgeDays}) in local/resources.json; submit the job again (or clone_job) for a fresh manifest`,
        { site, field: "submitted_at", value: manifest.submitted_at },
      );
    }
    if (at - now > MAX_FUTURE_MS) {
      throw new CohortError(
        JobSignatureErrorCode.Expired,
        `${site}: the job's manifest is dated ${manifest.submitted_at}, ahead of this site's clock (${new Date(now).toISOString()}); check both clocks and submit again`,
        { site, field: "submitted_at", value: manifest.submitted_at },
      );
    }
    appendFileSync(this.file, `${JSON.stringify({ nonce: manifest.nonce, job: jobId, at: now })}\n`, { mode: 0o600 });
    chmodSync(this.file, 0o600);
    this.seen.set(manifest.nonce, jobId);
  }
}
