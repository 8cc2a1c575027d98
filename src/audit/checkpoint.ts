import { closeSync, openSync } from "node:fs";
import { z } from "zod";
import { CohortError, isCohortError } from "../errors/index.js";
import { certificateFingerprint, readCertificateInfo, signBytes, verifyBytes, verifyCertificateChain } from "../pki/index.js";
import { AuditLog, GENESIS_HASH, lastLines, lineHash } from "./audit-log.js";
import { AuditErrorCode } from "./errors.js";
import { parseRecord } from "./records.js";

/**
 * Checkpoints: a site signs its chain head (line count and hash of the last line) with its kit key
 * and sends it to a peer, which records it in its own log ("witness"). Whoever later cuts the
 * site's log back behind a witnessed checkpoint, or rewrites it, is caught by `verifyAuditLog`
 * with the peer's log as witness (docs/audit.md).
 */
export interface Checkpoint {
  readonly v: 1;
  /** The site whose log this is (the CN of `cert`). */
  readonly site: string;
  /** Number of lines covered (the `seq` of the last line; 0 for an empty log). */
  readonly seq: number;
  /** Hex SHA-256 of line `seq` (64 zeros for an empty log). */
  readonly hash: string;
  /** When the checkpoint was made (ISO 8601, UTC), by the site's clock. */
  readonly time: string;
  /** The site's certificate (PEM), issued by the project root. */
  readonly cert: string;
  /** Base64 signature (signBytes, the site's kit key) over {@link checkpointBytes}. */
  readonly sig: string;
}

export interface CheckpointSigner {
  readonly certPem: string;
  readonly keyPem: string;
}

/** The action of a witness record in the witness's own log. */
export const WITNESS_ACTION = "audit.checkpoint";

const HEX64 = /^[0-9a-f]{64}$/;

export const checkpointSchema = z.strictObject({
  v: z.literal(1),
  site: z.string().min(1).max(256),
  seq: z.number().int().nonnegative(),
  hash: z.string().regex(HEX64),
  time: z.iso.datetime(),
  cert: z.string().min(1).max(16_384),
  // RSA-4096 signatures are 684 characters; the bound keeps witness records within the 1000-character reason.
  sig: z.string().min(1).max(700),
});

/**
 * The signed bytes: a domain tag (so a checkpoint signature can never be replayed as a signature
 * over anything else made with the same kit key, e.g. a job) and the four values in a fixed order.
 */
export function checkpointBytes(c: { site: string; seq: number; hash: string; time: string }): Buffer {
  return Buffer.from(`cohort-audit-checkpoint/v1\n${JSON.stringify([c.site, c.seq, c.hash, c.time])}`, "utf8");
}

/** The chain head of a log file on disk (for a log this process does not hold open). */
function headOfFile(path: string, site: string): { seq: number; hash: string } {
  let fd: number;
  try {
    fd = openSync(path, "r");
  } catch (cause) {
    if ((cause as NodeJS.ErrnoException).code === "ENOENT") return { seq: 0, hash: GENESIS_HASH };
    throw new CohortError(AuditErrorCode.LogUnreadable, `cannot read the audit log ${path}: ${(cause as Error).message}`, { file: path }, { cause });
  }
  try {
    const last = lastLines(fd, 1)[0];
    if (last === undefined || last === "") return { seq: 0, hash: GENESIS_HASH };
    const rec = parseRecord(last);
    if (!rec) {
      throw new CohortError(
        AuditErrorCode.CheckpointTorn,
        `the last line of ${path} is not a complete audit record (torn by a crash?); reopen the log (AuditLog.open notes the torn line) before making a checkpoint`,
        { file: path },
      );
    }
    if (rec.site !== site) {
      throw new CohortError(AuditErrorCode.CheckpointSigner, `${path} is the audit log of ${rec.site}, not of ${site}`, {
        file: path,
        site: rec.site,
        expected: site,
      });
    }
    return { seq: rec.seq, hash: lineHash(last) };
  } finally {
    closeSync(fd);
  }
}

/**
 * Signs the chain head of `log` (an open AuditLog, or a log file by path) with the site's kit key.
 * The certificate's CN must be the log's site (a mismatch is a wiring error, caught here rather
 * than at every peer).
 */
export function createCheckpoint(
  log: AuditLog | { readonly path: string; readonly site: string },
  signer: CheckpointSigner,
  options: { clock?: () => Date } = {},
): Checkpoint {
  const head = log instanceof AuditLog ? log.head() : headOfFile(log.path, log.site);
  const cn = readCertificateInfo(signer.certPem).commonName;
  if (cn !== log.site) {
    throw new CohortError(
      AuditErrorCode.CheckpointSigner,
      `cannot sign ${log.site}'s audit checkpoint with the certificate of ${cn}; use ${log.site}'s kit (startup/*.crt and .key)`,
      { site: log.site, commonName: cn },
    );
  }
  const body = { site: log.site, seq: head.seq, hash: head.hash, time: (options.clock?.() ?? new Date()).toISOString() };
  const sig = signBytes(signer.keyPem, checkpointBytes(body));
  // A key that does not belong to the certificate would make every peer refuse the checkpoint.
  if (!verifyBytes(signer.certPem, checkpointBytes(body), sig)) {
    throw new CohortError(AuditErrorCode.CheckpointSignature, `the private key does not match ${cn}'s certificate; check the kit's startup/ folder`, {
      site: log.site,
    });
  }
  return { v: 1, ...body, cert: signer.certPem, sig };
}

export interface VerifyCheckpointOptions {
  /** The authenticated peer that sent it: the checkpoint must be that peer's own. */
  readonly peer?: string;
  /** Time at which the certificate must be valid; default now (at receipt). */
  readonly at?: Date;
}

/** Verifies a checkpoint received from a peer (untrusted input): shape, chain to the root, CN, signature. */
export function verifyCheckpoint(
  input: unknown,
  rootPem: string,
  options: VerifyCheckpointOptions = {},
): { site: string; seq: number; hash: string; time: string } {
  const parsed = checkpointSchema.safeParse(input);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new CohortError(
      AuditErrorCode.CheckpointInvalid,
      `not an audit checkpoint: ${issue ? `${issue.path.join(".") || "(root)"}: ${issue.message}` : "bad shape"} (see docs/audit.md, "Checkpoints")`,
      {},
    );
  }
  const cp = parsed.data;
  if (options.peer !== undefined && cp.site !== options.peer) {
    throw new CohortError(AuditErrorCode.CheckpointSigner, `${options.peer} sent a checkpoint of ${cp.site}'s log; a site may only checkpoint its own log`, {
      site: cp.site,
      peer: options.peer,
    });
  }
  try {
    verifyCertificateChain(cp.cert, rootPem, { label: `${cp.site}'s checkpoint certificate`, ...(options.at ? { at: options.at } : {}) });
  } catch (err) {
    throw new CohortError(
      AuditErrorCode.CheckpointCert,
      `checkpoint of ${cp.site} at ${cp.time}: ${isCohortError(err) ? err.message : (err as Error).message}`,
      { site: cp.site, ...(isCohortError(err) ? { cause: err.code } : {}) },
      { cause: err },
    );
  }
  const cn = readCertificateInfo(cp.cert).commonName;
  if (cn !== cp.site) {
    throw new CohortError(AuditErrorCode.CheckpointSigner, `checkpoint claims to be ${cp.site}'s but is signed with ${cn}'s certificate`, {
      site: cp.site,
      commonName: cn,
    });
  }
  if (!verifyBytes(cp.cert, checkpointBytes(cp), cp.sig)) {
    throw new CohortError(
      AuditErrorCode.CheckpointSignature,
      `the signature of ${cp.site}'s checkpoint (line ${cp.seq}, ${cp.time}) does not match its contents: it was altered after signing`,
      { site: cp.site, seq: cp.seq },
    );
  }
  return { site: cp.site, seq: cp.seq, hash: cp.hash, time: cp.time };
}

/**
 * What a witness record carries in its `reason` (JSON): everything needed to re-check the
 * signature later except the certificate itself, which is named by fingerprint (a PEM does not
 * fit the writer's 1000-character reason limit; `verifyAuditLog` finds it by fingerprint).
 */
export const witnessReasonSchema = z.strictObject({
  /** Format of this reason. */
  cp: z.literal(1),
  seq: z.number().int().nonnegative(),
  hash: z.string().regex(HEX64),
  time: z.iso.datetime(),
  sig: z.string().min(1),
  /** `SHA256:AA:BB:…` of the signer's certificate. */
  cert: z.string().regex(/^SHA256:(?:[0-9A-F]{2}:){31}[0-9A-F]{2}$/),
});
export type WitnessReason = z.infer<typeof witnessReasonSchema>;

/**
 * Records a peer's checkpoint in this participant's own log. Call it only after
 * {@link verifyCheckpoint} accepted it. Returns the event id (send it back as the acknowledgement).
 */
export function recordWitness(log: AuditLog, cp: Checkpoint): string {
  const parsed = checkpointSchema.safeParse(cp);
  if (!parsed.success)
    throw new CohortError(
      AuditErrorCode.CheckpointInvalid,
      "recordWitness was given something that is not an audit checkpoint; verify it with verifyCheckpoint first",
      {},
    );
  const reason: WitnessReason = { cp: 1, seq: cp.seq, hash: cp.hash, time: cp.time, sig: cp.sig, cert: certificateFingerprint(cp.cert) };
  return log.append({ action: WITNESS_ACTION, outcome: "ok", peer: cp.site, reason: JSON.stringify(reason) });
}
