import { createPrivateKey, X509Certificate } from "node:crypto";
import { existsSync, lstatSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join, relative } from "node:path";
import { z } from "zod";
import { CohortError, isCohortError } from "../errors/index.js";
import { JobSignatureErrorCode } from "./errors.js";
import { signBytes, verifyBytes } from "./signatures.js";
import { verifyCertificateChain } from "./verify-chain.js";
import { readCertificateInfo } from "./certificate-info.js";
import { JOB_MANIFEST_FILE } from "./job-manifest-format.js";

/**
 * Signed job folders, FLARE's scheme: in every folder a `.__nvfl_sig.json` maps each file name to
 * the base64 signature of its bytes and each sub-folder name to the signature of the name itself
 * (so nothing can be added, removed or renamed), and the root holds `.__nvfl_submitter.crt`, the
 * signer's certificate. Signed with the admin's kit key; verified against the project root.
 */
export const JOB_SIGNATURE_FILE = ".__nvfl_sig.json";
export const JOB_SUBMITTER_CERT = ".__nvfl_submitter.crt";
/** The manifest file (src/pki/job-manifest.ts); FLARE's walk skips it. */
export { JOB_MANIFEST_FILE };

export { JobSignatureErrorCode };

const sigMapSchema = z.record(z.string().min(1), z.string().min(1));

/** Files the signing scheme itself adds; skipped when looking at a job's content. */
export function isJobSignatureFile(name: string): boolean {
  return name === JOB_SIGNATURE_FILE || name === JOB_SUBMITTER_CERT || name === JOB_MANIFEST_FILE;
}

/** Removes every signature file (FLARE's and the manifest) from a job folder, before it is signed again. */
export function stripJobSignatures(dir: string): void {
  for (const name of readdirSync(dir)) {
    const path = join(dir, name);
    const st = lstatSync(path);
    if (st.isDirectory()) stripJobSignatures(path);
    else if (isJobSignatureFile(name)) rmSync(path, { force: true });
  }
}

/** Signs a job folder in place (call it on a copy: it adds the signature files). */
export function signJobFolder(dir: string, signer: { certPem: string; keyPem: string }): void {
  const key = createPrivateKey(signer.keyPem);
  writeFileSync(join(dir, JOB_SUBMITTER_CERT), signer.certPem);
  const walk = (folder: string, isRoot: boolean): void => {
    const map: Record<string, string> = {};
    for (const name of readdirSync(folder).sort()) {
      if (name === JOB_SIGNATURE_FILE || (isRoot && (name === JOB_SUBMITTER_CERT || name === JOB_MANIFEST_FILE))) continue;
      const path = join(folder, name);
      const st = lstatSync(path);
      if (st.isSymbolicLink())
        throw new CohortError(JobSignatureErrorCode.Tampered, `${path}: symbolic links cannot be signed into a job; copy the file instead`, { file: path });
      if (st.isDirectory()) {
        map[name] = signBytes(key, Buffer.from(name, "utf8"));
        walk(path, false);
      } else if (st.isFile()) {
        map[name] = signBytes(key, readFileSync(path));
      }
    }
    writeFileSync(join(folder, JOB_SIGNATURE_FILE), `${JSON.stringify(map, null, 1)}\n`);
  };
  walk(dir, true);
}

export interface JobSigner {
  readonly name: string;
  readonly org: string;
  readonly role: string;
  readonly certPem: string;
}

/** A job signer's certificate: chained to the project root at `at`, and an admin's (it has a role). */
export function trustedJobSigner(certPem: string, rootPem: string, at: Date): ReturnType<typeof readCertificateInfo> & { role: string } {
  try {
    verifyCertificateChain(certPem, rootPem, { label: "the job signer's certificate", at });
  } catch (err) {
    throw new CohortError(JobSignatureErrorCode.BadSigner, `job signer not trusted: ${(err as Error).message}`, isCohortError(err) ? err.details : {}, {
      cause: err,
    });
  }
  const info = readCertificateInfo(certPem);
  if (!info.role)
    throw new CohortError(JobSignatureErrorCode.BadSigner, `the job was signed by ${info.commonName}, which is not an admin certificate (no role)`, {
      signer: info.commonName,
    });
  return { ...info, role: info.role };
}

/**
 * FLARE's per-file check, kept for tools that read FLARE's files; Cohort trusts only the manifest
 * ({@link verifyJobManifest}). Verifies a signed job folder: the signer's certificate chains to `rootPem`, is an admin's (it
 * carries a role), and every file and folder is covered by a valid signature with nothing added or
 * removed. Returns the signer (who the job's submitter is, whatever meta.json says).
 */
export function verifyJobFolder(dir: string, rootPem: string, at = new Date()): JobSigner {
  const certFile = join(dir, JOB_SUBMITTER_CERT);
  if (!existsSync(certFile) || !existsSync(join(dir, JOB_SIGNATURE_FILE))) {
    throw new CohortError(
      JobSignatureErrorCode.Unsigned,
      "the job is not signed (no .__nvfl_submitter.crt / .__nvfl_sig.json); submit it with cohort admin, which signs it with the admin's kit",
      {},
    );
  }
  const certPem = readFileSync(certFile, "utf8");
  const info = trustedJobSigner(certPem, rootPem, at);
  const publicKey = new X509Certificate(certPem).publicKey;
  const walk = (folder: string, isRoot: boolean): void => {
    const rel = relative(dir, folder) || ".";
    const sigFile = join(folder, JOB_SIGNATURE_FILE);
    if (!existsSync(sigFile))
      throw new CohortError(JobSignatureErrorCode.Tampered, `job folder ${rel}: ${JOB_SIGNATURE_FILE} is missing (a folder was added after signing)`, {
        path: rel,
      });
    let map: Record<string, string>;
    try {
      map = sigMapSchema.parse(JSON.parse(readFileSync(sigFile, "utf8")));
    } catch {
      throw new CohortError(JobSignatureErrorCode.Tampered, `job folder ${rel}: ${JOB_SIGNATURE_FILE} is not a valid signature map`, { path: rel });
    }
    const present = readdirSync(folder).filter((n) => n !== JOB_SIGNATURE_FILE && !(isRoot && (n === JOB_SUBMITTER_CERT || n === JOB_MANIFEST_FILE)));
    for (const name of present) {
      const path = join(folder, name);
      const st = lstatSync(path);
      const where = join(rel, name);
      const sig = map[name];
      if (sig === undefined)
        throw new CohortError(JobSignatureErrorCode.Tampered, `job file ${where} was added after signing`, { path: where, reason: "added" });
      if (st.isSymbolicLink())
        throw new CohortError(JobSignatureErrorCode.Tampered, `job file ${where} is a symbolic link`, { path: where, reason: "replaced" });
      const ok = st.isDirectory() ? verifyBytes(publicKey, Buffer.from(name, "utf8"), sig) : verifyBytes(publicKey, readFileSync(path), sig);
      if (!ok) throw new CohortError(JobSignatureErrorCode.Tampered, `job file ${where} was changed after signing`, { path: where, reason: "changed" });
      if (st.isDirectory()) walk(path, false);
    }
    for (const name of Object.keys(map)) {
      if (!present.includes(name))
        throw new CohortError(JobSignatureErrorCode.Tampered, `job file ${join(rel, name)} was removed after signing`, {
          path: join(rel, name),
          reason: "removed",
        });
    }
  };
  walk(dir, true);
  return { name: info.commonName, org: info.organization ?? "", role: info.role, certPem };
}
