import { createHash, createPrivateKey, randomBytes, X509Certificate } from "node:crypto";
import { existsSync, lstatSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { z } from "zod";
import { CohortError } from "../errors/index.js";
import { signBytes, verifyBytes } from "./signatures.js";
import { signJobFolder, stripJobSignatures, trustedJobSigner } from "./job-signature.js";
import {
  assembleManifest,
  badJobPathSegment,
  canonicalJson,
  canonicalManifestBytes,
  checkJobPathSegment,
  compareUtf8,
  JOB_MANIFEST_FILE,
  JOB_MANIFEST_FORMAT,
  manifestFileText,
  type JobManifest,
} from "./job-manifest-format.js";
import { JobSignatureErrorCode } from "./errors.js";
import type { JobSigner } from "./job-signature.js";

/**
 * The job manifest: one signature over the whole job (docs/protocol.md, "Job manifest"). FLARE's
 * per-file signatures sign each file's bytes but not the list of files or their paths, so files
 * could be dropped, renamed, moved or transplanted from another job by the same signer. The
 * manifest names every file by its relative path with its SHA-256, the folder set, the job name,
 * the submitter's certificate, a nonce and the time; it is the only thing Cohort trusts.
 * The format and canonical encoding are in job-manifest-format.ts (shared with the browser signer).
 */
export { canonicalJson, JOB_MANIFEST_FORMAT };
export type { JobManifest };

const relPath = z
  .string()
  .min(1)
  .max(4096)
  .refine(
    (p) => p.split("/").every((s) => badJobPathSegment(s) === undefined),
    'a relative path with "/" separators, no "."/".." segments, control characters, lone surrogates or __proto__',
  );
const manifestSchema = z
  .object({
    format: z.literal(JOB_MANIFEST_FORMAT),
    job_name: z.string().min(1).max(1000),
    submitter_certificate: z.string().min(1).max(65536),
    nonce: z.string().regex(/^[0-9a-f]{64}$/),
    submitted_at: z.string().regex(/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/),
    folders: z.array(relPath),
    files: z.record(relPath, z.string().regex(/^[0-9a-f]{64}$/)),
  })
  .strict();
const manifestFileSchema = z.object({ format: z.literal(JOB_MANIFEST_FORMAT), manifest: z.string().min(2), signature: z.string().min(1) }).strict();

/** The exact bytes that are signed: the canonical JSON of the manifest, UTF-8 (job-manifest-format.ts). */
export function manifestCanonicalBytes(manifest: JobManifest): Buffer {
  const bytes = canonicalManifestBytes(manifest);
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

/** Lists a job folder as the manifest sees it: every file but the manifest, every folder; refuses links and special files. */
export function scanJobFolder(dir: string): { folders: string[]; files: Record<string, string> } {
  const folders: string[] = [];
  // No prototype: a file named like an Object.prototype member must be an entry like any other.
  const files = Object.create(null) as Record<string, string>;
  const walk = (abs: string, rel: string): void => {
    for (const name of readdirSync(abs)) {
      const path = rel ? `${rel}/${name}` : name;
      if (path === JOB_MANIFEST_FILE) continue;
      checkJobPathSegment(name, path);
      const st = lstatSync(join(abs, name));
      if (st.isSymbolicLink())
        throw new CohortError(JobSignatureErrorCode.Tampered, `job file ${path} is a symbolic link; copy the file instead`, { path, reason: "symlink" });
      if (st.isDirectory()) {
        folders.push(path);
        walk(join(abs, name), path);
      } else if (st.isFile()) {
        files[path] = createHash("sha256")
          .update(readFileSync(join(abs, name)))
          .digest("hex");
      } else {
        throw new CohortError(JobSignatureErrorCode.Tampered, `job file ${path} is not a regular file or folder`, { path, reason: "special" });
      }
    }
  };
  walk(dir, "");
  return { folders: folders.sort(compareUtf8), files };
}

export interface ManifestSignOptions {
  readonly jobName: string;
  /** Fixed for test vectors; random otherwise. */
  readonly nonce?: string;
  readonly at?: Date;
}

/** Builds the manifest of a folder as it is now (sign after every other file is written). */
export function buildJobManifest(dir: string, certPem: string, o: ManifestSignOptions): JobManifest {
  const { folders, files } = scanJobFolder(dir);
  return assembleManifest({ jobName: o.jobName, certPem, nonce: o.nonce ?? randomBytes(32).toString("hex"), at: o.at ?? new Date(), folders, files });
}

/** Signs a manifest: the file's content (`{format, manifest: <canonical JSON>, signature}`). */
export function signJobManifest(manifest: JobManifest, keyPem: string): string {
  const bytes = manifestCanonicalBytes(manifest);
  return manifestFileText(bytes.toString("utf8"), signBytes(createPrivateKey(keyPem), bytes));
}

/** Writes the signed manifest of `dir` into it (the last file written when a job is signed). */
export function writeJobManifest(dir: string, signer: { certPem: string; keyPem: string }, o: ManifestSignOptions): JobManifest {
  const manifest = buildJobManifest(dir, signer.certPem, o);
  writeFileSync(join(dir, JOB_MANIFEST_FILE), signJobManifest(manifest, signer.keyPem));
  return manifest;
}

export interface VerifiedJobManifest {
  readonly manifest: JobManifest;
  readonly signer: JobSigner;
}

/** Reads and checks the manifest's signature and signer (not the files: see {@link verifyJobManifest}). */
export function readSignedManifest(dir: string, rootPem: string, at = new Date()): VerifiedJobManifest {
  const file = join(dir, JOB_MANIFEST_FILE);
  if (!existsSync(file)) {
    throw new CohortError(
      JobSignatureErrorCode.Unsigned,
      `the job is not signed (no ${JOB_MANIFEST_FILE}); submit it with cohort admin, which signs it with the admin's kit`,
      { file: JOB_MANIFEST_FILE },
    );
  }
  const bad = (why: string): never => {
    throw new CohortError(JobSignatureErrorCode.BadManifest, `${JOB_MANIFEST_FILE}: ${why}; sign the job again with cohort admin`, {
      file: JOB_MANIFEST_FILE,
      reason: why,
    });
  };
  let outer: z.infer<typeof manifestFileSchema> | undefined;
  try {
    outer = manifestFileSchema.parse(JSON.parse(readFileSync(file, "utf8")));
  } catch {
    return bad(`not a manifest file (fields format, manifest, signature)`);
  }
  const parsed = manifestSchema.safeParse(
    (() => {
      try {
        return JSON.parse(outer.manifest) as unknown;
      } catch {
        return undefined;
      }
    })(),
  );
  if (!parsed.success)
    return bad(`field manifest is not a valid manifest: ${parsed.error.issues.map((i) => `${i.path.join(".") || "(root)"}: ${i.message}`).join("; ")}`);
  const manifest = parsed.data as JobManifest;
  const sorted = [...manifest.folders].sort(compareUtf8);
  if (new Set(sorted).size !== sorted.length || sorted.some((f, i) => f !== manifest.folders[i]))
    return bad("field folders is not sorted by UTF-8 bytes without duplicates");
  // Only the canonical form is accepted: one manifest, one byte string.
  if (canonicalJson(manifest) !== outer.manifest) return bad("field manifest is not in canonical form (sorted keys, no whitespace)");
  const certPem = manifest.submitter_certificate;
  const info = trustedJobSigner(certPem, rootPem, at);
  if (!verifyBytes(new X509Certificate(certPem).publicKey, Buffer.from(outer.manifest, "utf8"), outer.signature)) {
    throw new CohortError(JobSignatureErrorCode.Tampered, `${JOB_MANIFEST_FILE}: the signature does not match the manifest (it was changed after signing)`, {
      file: JOB_MANIFEST_FILE,
      reason: "signature",
    });
  }
  return { manifest, signer: { name: info.commonName, org: info.organization ?? "", role: info.role, certPem } };
}

/** Compares a folder with a manifest: the same files with the same bytes and the same folders, nothing else. */
export function checkFilesMatch(dir: string, manifest: JobManifest): void {
  const { folders, files } = scanJobFolder(dir);
  const fail = (path: string, reason: string, message: string): never => {
    throw new CohortError(JobSignatureErrorCode.Tampered, message, { path, reason });
  };
  for (const [path, sha] of Object.entries(files)) {
    const want = Object.hasOwn(manifest.files, path) ? manifest.files[path] : undefined;
    if (want === undefined)
      fail(path, "added", `job file ${path} was added after signing (it is not in ${JOB_MANIFEST_FILE}; a renamed or moved file also shows so)`);
    else if (want !== sha) fail(path, "changed", `job file ${path} was changed after signing (sha256 ${sha}, the manifest says ${want})`);
  }
  for (const path of Object.keys(manifest.files)) {
    if (!Object.hasOwn(files, path)) fail(path, "removed", `job file ${path} was removed after signing (it is in ${JOB_MANIFEST_FILE} but missing)`);
  }
  const have = new Set(folders);
  for (const f of folders) if (!manifest.folders.includes(f)) fail(f, "added", `job folder ${f} was added after signing`);
  for (const f of manifest.folders) if (!have.has(f)) fail(f, "removed", `job folder ${f} was removed after signing`);
}

/**
 * Verifies a job folder by its manifest alone: signature, signer (chains to `rootPem`, an admin
 * certificate) and files (exactly the manifest's). FLARE's per-file signature files are covered by
 * the manifest like any other file, and not trusted for anything.
 */
export function verifyJobManifest(dir: string, rootPem: string, at = new Date()): VerifiedJobManifest {
  const verified = readSignedManifest(dir, rootPem, at);
  checkFilesMatch(dir, verified.manifest);
  return verified;
}

/**
 * Signs a job folder in place (call it on a copy): removes any earlier signature files, writes
 * FLARE's per-file signatures (for compatibility) and then the manifest, which covers them too.
 */
export function signJob(dir: string, signer: { certPem: string; keyPem: string }, o: ManifestSignOptions): JobManifest {
  stripJobSignatures(dir);
  signJobFolder(dir, signer);
  return writeJobManifest(dir, signer, o);
}
