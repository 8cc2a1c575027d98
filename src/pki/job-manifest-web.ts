import { CohortError } from "../errors/index.js";
import { JobSignatureErrorCode } from "./errors.js";
import {
  assembleManifest,
  canonicalJson,
  canonicalManifestBytes,
  checkJobPathSegment,
  JOB_MANIFEST_FILE,
  manifestFileText,
  type JobManifest,
} from "./job-manifest-format.js";

/**
 * The job manifest signer for a browser (docs/protocol.md §5): WebCrypto (`crypto.subtle`),
 * `TextEncoder`, `btoa`/`atob` and nothing from Node, so it bundles for a web page as it is (test:
 * test/pki/job-manifest-web.test.ts bundles it for the browser platform and runs it in a context
 * without Node's globals). The files come as (path, bytes) entries, as a folder picker gives them;
 * the canonical encoding is the console's own (job-manifest-format.ts). Verification stays with
 * the server and the sites.
 */
export { canonicalManifestBytes, JOB_MANIFEST_FILE };
export type { JobManifest };

/** A WebCrypto key (the global `CryptoKey` of a browser). */
export type WebCryptoKey = Parameters<typeof crypto.subtle.sign>[1];

/** One file of the job: its path relative to the job root ("/"-separated) and its bytes. */
export interface JobFileEntry {
  readonly path: string;
  readonly bytes: Uint8Array;
}

export interface WebManifestOptions {
  /** Every file of the job; an entry for the manifest file itself (a job signed before) is skipped. */
  readonly files: readonly JobFileEntry[];
  /** Folders holding no file (a folder picker lists files only); folders above a file are implied. */
  readonly emptyFolders?: readonly string[];
  /** The signer's certificate as in the kit's client.crt (PEM). */
  readonly certificatePem: string;
  /** meta.json `name`. */
  readonly jobName: string;
  /** 64 lowercase hex digits; random when absent (set only for test vectors). */
  readonly nonce?: string;
  /** Signing time; now when absent. */
  readonly at?: Date;
}

export interface WebSignOptions extends WebManifestOptions {
  /**
   * The kit's private key: a CryptoKey (ECDSA P-256, or RSA-PSS with SHA-256, usage "sign"), or
   * the kit's client.key as unencrypted PKCS#8, PEM text or DER bytes.
   */
  readonly key: WebCryptoKey | string | Uint8Array;
}

export interface SignedJobManifest {
  readonly manifest: JobManifest;
  /** The canonical bytes that were signed. */
  readonly bytes: Uint8Array;
  /** Base64 signature: ECDSA/SHA-256 DER, or RSA-PSS/SHA-256 with the maximum salt length. */
  readonly signature: string;
  /** Where the file goes: the job root's `.__cohort_job_manifest.json`. */
  readonly fileName: typeof JOB_MANIFEST_FILE;
  readonly fileText: string;
}

function refuse(field: string, value: unknown, message: string): never {
  throw new CohortError(JobSignatureErrorCode.BadManifest, `job manifest signer: ${field} ${message}`, { field, value });
}

/** Checks a path from a folder picker as the console checks a name on disk; returns its folders. */
function pathFolders(path: unknown, field: string): string[] {
  if (typeof path !== "string" || path === "") refuse(field, path, 'must be a non-empty path relative to the job root ("/"-separated)');
  if (path.startsWith("/")) refuse(field, path, `(${JSON.stringify(path)}) must be relative to the job root: remove the leading "/"`);
  const segments = path.split("/");
  segments.forEach((s) => checkJobPathSegment(s, path));
  return segments.slice(0, -1).map((_, i) => segments.slice(0, i + 1).join("/"));
}

function hex(bytes: Uint8Array): string {
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

/** Builds the manifest of a job given as (path, bytes) entries, checked as the console checks a folder. */
export async function buildManifest(o: WebManifestOptions): Promise<JobManifest> {
  if (typeof o.jobName !== "string" || o.jobName.length < 1 || o.jobName.length > 1000)
    refuse("jobName", o.jobName, "must be meta.json's name (1 to 1000 characters)");
  if (typeof o.certificatePem !== "string" || !o.certificatePem.includes("-----BEGIN CERTIFICATE-----") || o.certificatePem.length > 65536) {
    refuse("certificatePem", typeof o.certificatePem === "string" ? o.certificatePem.slice(0, 40) : o.certificatePem, "must be the kit's client.crt (PEM)");
  }
  const nonce = o.nonce ?? hex(crypto.getRandomValues(new Uint8Array(32)));
  if (!/^[0-9a-f]{64}$/.test(nonce)) refuse("nonce", nonce, "must be 64 lowercase hex digits (32 random bytes); leave it out to get a random one");
  const at = o.at ?? new Date();
  if (typeof at?.getTime !== "function" || Number.isNaN(at.getTime())) refuse("at", String(at), "must be a valid Date; leave it out for now");
  if (!Array.isArray(o.files)) refuse("files", typeof o.files, "must be an array of { path, bytes } entries");
  const folders = new Set<string>();
  for (const [i, f] of (o.emptyFolders ?? []).entries()) for (const d of [...pathFolders(f, `emptyFolders[${i}]`), f]) folders.add(d);
  const files = Object.create(null) as Record<string, string>;
  for (const [i, entry] of o.files.entries()) {
    const field = `files[${i}]`;
    if (entry.path === JOB_MANIFEST_FILE) continue;
    for (const d of pathFolders(entry.path, `${field}.path`)) folders.add(d);
    if (!ArrayBuffer.isView(entry.bytes)) refuse(`${field}.bytes`, typeof entry.bytes, `(${entry.path}) must be a Uint8Array of the file's content`);
    if (Object.hasOwn(files, entry.path)) refuse(`${field}.path`, entry.path, `(${JSON.stringify(entry.path)}) is listed twice; give each file once`);
    files[entry.path] = hex(new Uint8Array(await crypto.subtle.digest("SHA-256", entry.bytes)));
  }
  for (const [i, entry] of o.files.entries()) {
    if (folders.has(entry.path))
      refuse(`files[${i}].path`, entry.path, `(${JSON.stringify(entry.path)}) is also a folder of another entry; a path is a file or a folder, not both`);
  }
  return assembleManifest({ jobName: o.jobName, certPem: o.certificatePem, nonce, at, folders: [...folders], files });
}

/** Signs the manifest of a job given as (path, bytes) entries; write `fileText` to `fileName` at the job root. */
export async function signManifest(o: WebSignOptions): Promise<SignedJobManifest> {
  const key = await signingKey(o.key);
  const manifest = await buildManifest(o);
  const bytes = canonicalManifestBytes(manifest);
  const signature = base64(await signCanonical(key, bytes));
  return { manifest, bytes, signature, fileName: JOB_MANIFEST_FILE, fileText: manifestFileText(canonicalJson(manifest), signature) };
}

const EC_P256 = { name: "ECDSA", namedCurve: "P-256" } as const;
const RSA_PSS = { name: "RSA-PSS", hash: "SHA-256" } as const;
const KEY_FIX = 'give the kit\'s client.key (unencrypted PKCS#8, EC P-256 or RSA), or a CryptoKey imported as ECDSA P-256 or RSA-PSS/SHA-256 with usage "sign"';

/** The key as a WebCrypto signing key; PKCS#8 is imported as EC P-256 or else as RSA-PSS. */
async function signingKey(key: WebSignOptions["key"]): Promise<WebCryptoKey> {
  if (typeof key === "string" || ArrayBuffer.isView(key)) {
    const der = typeof key === "string" ? pemPkcs8(key) : (key as Uint8Array);
    for (const algorithm of [EC_P256, RSA_PSS]) {
      try {
        return await crypto.subtle.importKey("pkcs8", der, algorithm, false, ["sign"]);
      } catch {
        // not this key type: try the next
      }
    }
    return refuse("key", "(not shown)", `is not a PKCS#8 EC P-256 or RSA private key; ${KEY_FIX}`);
  }
  const a = key.algorithm as { name?: string; namedCurve?: string; hash?: { name?: string } };
  const ok =
    key.type === "private" &&
    key.usages.includes("sign") &&
    ((a.name === "ECDSA" && a.namedCurve === "P-256") || (a.name === "RSA-PSS" && a.hash?.name === "SHA-256"));
  if (!ok) refuse("key", `${key.type} ${a.name ?? "?"} ${a.namedCurve ?? a.hash?.name ?? ""}`.trim(), `cannot sign a job manifest; ${KEY_FIX}`);
  return key;
}

function pemPkcs8(pem: string): Uint8Array {
  const m = /-----BEGIN ([A-Z ]+)-----([\s\S]*?)-----END \1-----/.exec(pem);
  if (m?.[1] !== "PRIVATE KEY") {
    const label = m?.[1] ?? "no PEM block";
    const fix =
      label === "ENCRYPTED PRIVATE KEY"
        ? "decrypt it first (openssl pkcs8 -in client.key -out plain.key)"
        : "convert it (openssl pkcs8 -topk8 -nocrypt -in client.key -out plain.key)";
    return refuse("key", label, `must be a PEM "PRIVATE KEY" (unencrypted PKCS#8): ${fix}`);
  }
  const body = (m[2] ?? "").replace(/\s+/g, "");
  return Uint8Array.from(atob(body), (c) => c.charCodeAt(0));
}

/** FLARE's signature bytes: ECDSA as DER (WebCrypto gives r‖s), RSA-PSS with the maximum salt. */
async function signCanonical(key: WebCryptoKey, bytes: Uint8Array): Promise<Uint8Array> {
  const a = key.algorithm as { name?: string; modulusLength?: number };
  if (a.name === "RSA-PSS") {
    const emLen = Math.ceil(((a.modulusLength ?? 0) - 1) / 8);
    return new Uint8Array(await crypto.subtle.sign({ name: "RSA-PSS", saltLength: emLen - 32 - 2 }, key, bytes));
  }
  return ecdsaDer(new Uint8Array(await crypto.subtle.sign({ name: "ECDSA", hash: "SHA-256" }, key, bytes)));
}

/** r‖s (IEEE P1363) → DER SEQUENCE { INTEGER r, INTEGER s }. */
function ecdsaDer(rs: Uint8Array): Uint8Array {
  const half = rs.length / 2;
  const integer = (v: Uint8Array): number[] => {
    let i = 0;
    while (i < v.length - 1 && v[i] === 0) i++;
    const body = [...v.subarray(i)];
    if ((body[0] ?? 0) & 0x80) body.unshift(0);
    return [0x02, body.length, ...body];
  };
  const seq = [...integer(rs.subarray(0, half)), ...integer(rs.subarray(half))];
  // P-256: at most 2 × 35 bytes, so the length fits the short form.
  return Uint8Array.from([0x30, seq.length, ...seq]);
}

function base64(bytes: Uint8Array): string {
  return btoa(Array.from(bytes, (b) => String.fromCharCode(b)).join(""));
}
