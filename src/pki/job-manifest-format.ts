import { CohortError } from "../errors/index.js";
import { JobSignatureErrorCode } from "./errors.js";

/**
 * The job manifest's format and canonical encoding (docs/protocol.md §5.1–5.2), shared by the
 * console (job-manifest.ts, node:crypto and the file system) and the browser signer
 * (job-manifest-web.ts, WebCrypto only): one canonical encoder, so both give the same bytes.
 * This module must not import anything from Node (test/pki/job-manifest-web.test.ts checks the
 * browser module's whole import graph).
 */
export const JOB_MANIFEST_FORMAT = "cohort-job-manifest/1";
/** The manifest file at the job root; it is not an entry of its own manifest. */
export const JOB_MANIFEST_FILE = ".__cohort_job_manifest.json";

export interface JobManifest {
  readonly format: typeof JOB_MANIFEST_FORMAT;
  readonly job_name: string;
  /** The signer's certificate (PEM); the signer is whoever this names. */
  readonly submitter_certificate: string;
  /** 32 random bytes, lowercase hex: sites refuse it under a second job id. */
  readonly nonce: string;
  /** ISO 8601 UTC with milliseconds (`Date.prototype.toISOString`). */
  readonly submitted_at: string;
  /** Every folder under the job root (not the root itself), "/"-separated, sorted. */
  readonly folders: readonly string[];
  /** Every file (except the manifest file itself) → lowercase hex SHA-256 of its bytes. */
  readonly files: Readonly<Record<string, string>>;
}

/** A path segment: no separators, no control characters, not "." or "..". */
export const JOB_PATH_SEGMENT = /^(?!\.\.?$)[^/\\\u0000-\u001f\u007f]+$/u;

/** Why a name cannot be a segment of a job path (undefined when it can). */
export function badJobPathSegment(name: string): string | undefined {
  if (name === "__proto__") return "is __proto__";
  if (!JOB_PATH_SEGMENT.test(name)) return 'is empty, "." or "..", or has a "/", a backslash or a control character (U+0000–U+001F, U+007F)';
  // A lone surrogate has no UTF-8 form: the bytes signed would not be the name.
  if (/\p{Cs}/u.test(name)) return "is not valid Unicode (a lone surrogate)";
  return undefined;
}

/** Refuses a name that cannot be part of a signed job, naming the path and the fix. */
export function checkJobPathSegment(name: string, path: string): void {
  const why = badJobPathSegment(name);
  if (why)
    throw new CohortError(JobSignatureErrorCode.Tampered, `job file ${JSON.stringify(path)}: the name ${JSON.stringify(name)} ${why}; rename it`, {
      path,
      reason: "bad_name",
    });
}

/**
 * Orders strings by their UTF-8 bytes (= code point order; what Python's sort gives). UTF-16 code
 * unit order differs only where a surrogate meets U+E000–U+FFFF: surrogates are moved above them.
 */
export function compareUtf8(a: string, b: string): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    const x = a.charCodeAt(i);
    const y = b.charCodeAt(i);
    if (x !== y) return codePointRank(x) - codePointRank(y);
  }
  return a.length - b.length;
}

function codePointRank(unit: number): number {
  if (unit >= 0xd800 && unit <= 0xdfff) return unit + 0x2000;
  if (unit >= 0xe000) return unit - 0x800;
  return unit;
}

/**
 * Canonical JSON: object keys sorted by their UTF-8 bytes at every level, arrays kept in order,
 * no whitespace, strings escaped as JSON.stringify does (`"`, `\`, control characters only).
 */
export function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(",")}]`;
  if (value !== null && typeof value === "object") {
    const entries = Object.entries(value as Record<string, unknown>).sort(([a], [b]) => compareUtf8(a, b));
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(",")}}`;
  }
  if (typeof value === "string" || typeof value === "boolean" || value === null) return JSON.stringify(value);
  throw new CohortError(JobSignatureErrorCode.Tampered, `canonical JSON holds strings, arrays and objects only, not ${typeof value}`, {});
}

/** The exact bytes that are signed: the canonical JSON of the manifest, UTF-8. */
export function canonicalManifestBytes(manifest: JobManifest): Uint8Array {
  return new TextEncoder().encode(canonicalJson(manifest));
}

/** What a manifest is built from: the folder's content as scanned (files already hashed). */
export interface ManifestContent {
  readonly jobName: string;
  readonly certPem: string;
  /** 64 lowercase hex digits. */
  readonly nonce: string;
  readonly at: Date;
  readonly folders: readonly string[];
  /** Relative path → lowercase hex SHA-256. */
  readonly files: Readonly<Record<string, string>>;
}

/** The manifest of scanned content: folders and files in UTF-8 byte order. */
export function assembleManifest(c: ManifestContent): JobManifest {
  const files = Object.fromEntries(Object.entries(c.files).sort(([a], [b]) => compareUtf8(a, b)));
  return {
    format: JOB_MANIFEST_FORMAT,
    job_name: c.jobName,
    submitter_certificate: c.certPem,
    nonce: c.nonce,
    submitted_at: c.at.toISOString(),
    folders: [...c.folders].sort(compareUtf8),
    files,
  };
}

/** The manifest file's text: `{format, manifest: <canonical JSON>, signature}`, one space indent. */
export function manifestFileText(canonical: string, signatureBase64: string): string {
  return `${JSON.stringify({ format: JOB_MANIFEST_FORMAT, manifest: canonical, signature: signatureBase64 }, null, 1)}\n`;
}
