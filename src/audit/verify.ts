import { existsSync, readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { CohortError, isCohortError } from "../errors/index.js";
import { certificateFingerprint, readCertificateInfo, verifyBytes, verifyCertificateChain } from "../pki/index.js";
import { GENESIS_HASH, lineHash, type AuditRecord } from "./audit-log.js";
import { WITNESS_ACTION, checkpointBytes, witnessReasonSchema, type WitnessReason } from "./checkpoint.js";
import { AuditErrorCode } from "./errors.js";
import { auditRecordSchema, readLogLines } from "./records.js";

/**
 * `verifyAuditLog`: the hash chain, sequence numbers and schema of one log, and, with the peer's log
 * as witness, every checkpoint that peer recorded for this site (docs/audit.md, "Verifying").
 */
export interface VerifyAuditLogOptions {
  /** The peer's audit.log, holding `audit.checkpoint` records of this log's site. */
  readonly witness?: string;
  /** The project root (rootCA.pem); when given, witnessed checkpoints' signatures are checked. */
  readonly rootPem?: string;
  /**
   * Certificates (PEM) to check signatures with, found by fingerprint; the site's own
   * `startup/client.crt` / `startup/server.crt` beside the log are looked at too.
   */
  readonly certs?: readonly string[];
  /** The log's site, when the log may be empty (otherwise read from its lines). */
  readonly site?: string;
}

export interface AuditVerification {
  readonly ok: boolean;
  /** Lines in the file. */
  readonly lines: number;
  /** 1-based line number (in the verified log) of the first problem. */
  readonly badLine?: number;
  readonly problem?: string;
  /** Line of the witness log a witness problem is about. */
  readonly witnessLine?: number;
  /** Present when a witness was given: how many of its checkpoints of this site were compared. */
  readonly checkpointsChecked?: number;
  /** Present when a witness was given: whether their signatures were checked (only with rootPem). */
  readonly signaturesChecked?: boolean;
  /** Things worth knowing that are not problems (torn lines noted by the writer, unchecked signatures…). */
  readonly notes?: readonly string[];
}

interface LineHead {
  readonly line: number;
  readonly hash: string;
}

interface ChainResult {
  readonly lines: number;
  readonly site: string | undefined;
  /** Chain head per seq, for the lines before the first problem. */
  readonly bySeq: Map<number, LineHead>;
  readonly lastSeq: number;
  /** Line number of the last record before the first problem. */
  readonly lastLine: number;
  readonly problem?: { line: number; text: string };
  readonly notes: string[];
  readonly records: { line: number; rec: AuditRecord }[];
}

function describeInvalid(line: string): string {
  let json: unknown;
  try {
    json = JSON.parse(line);
  } catch {
    return "it is not JSON";
  }
  const r = auditRecordSchema.safeParse(json);
  const issue = r.success ? undefined : r.error.issues[0];
  return issue ? `field ${issue.path.join(".") || "(record)"}: ${issue.message}` : "it does not match the schema";
}

/** Walks a log's lines once: schema, canonical form, site, sequence numbers and hash chain. */
function checkChain(lines: readonly string[]): ChainResult {
  const bySeq = new Map<number, LineHead>([[0, { line: 0, hash: GENESIS_HASH }]]);
  const notes: string[] = [];
  const records: ChainResult["records"] = [];
  let prev = GENESIS_HASH;
  let expectedSeq = 1;
  let site: string | undefined;
  let lastLine = 0;
  const done = (line: number, text: string): ChainResult => ({
    lines: lines.length,
    site,
    bySeq,
    lastSeq: expectedSeq - 1,
    lastLine,
    problem: { line, text },
    notes,
    records,
  });
  for (const [i, line] of lines.entries()) {
    const n = i + 1;
    const parsed = auditRecordSchema.safeParse(safeJson(line));
    if (!parsed.success) {
      // A crash mid-write leaves a fragment; AuditLog.open keeps it and notes it on the next line
      // (audit.torn_line, chained to the fragment). Only a fragment noted that way is accepted.
      const next = lines[i + 1];
      const nextRec = next === undefined ? undefined : auditRecordSchema.safeParse(safeJson(next)).data;
      if (nextRec?.action === "audit.torn_line" && nextRec.prev === lineHash(line)) {
        notes.push(`line ${n} is a fragment torn by a crash mid-write, noted by line ${n + 1}`);
        prev = lineHash(line);
        continue;
      }
      if (next === undefined)
        return done(
          n,
          `line ${n} is incomplete or not an audit record (${describeInvalid(line)}): the writer stopped mid-line or the line was cut; if the site crashed, starting it again notes the torn line, otherwise the log was tampered with`,
        );
      return done(n, `line ${n} is not a valid audit record (${describeInvalid(line)}): it was altered or inserted`);
    }
    const rec = parsed.data;
    if (JSON.stringify(rec) !== line)
      return done(n, `line ${n} is not written the way the log writer writes it (field order or spacing differs): it was edited`);
    if (site === undefined) site = rec.site;
    else if (rec.site !== site) return done(n, `line ${n} is written by ${rec.site} but the log is ${site}'s: it was inserted from another log`);
    if (rec.seq > expectedSeq)
      return done(n, `line ${n} has seq ${rec.seq} where ${expectedSeq} was expected: ${rec.seq - expectedSeq} line(s) were removed before it`);
    if (rec.seq < expectedSeq) return done(n, `line ${n} has seq ${rec.seq} where ${expectedSeq} was expected: it was inserted, duplicated or moved`);
    if (rec.prev !== prev) {
      return done(
        n,
        n === 1
          ? `line 1 does not start the chain (prev is not 64 zeros): lines before it were removed`
          : `line ${n} does not chain to line ${n - 1} (its prev is not the SHA-256 of line ${n - 1}): line ${n - 1} was altered, or line ${n} was altered or moved`,
      );
    }
    prev = lineHash(line);
    bySeq.set(rec.seq, { line: n, hash: prev });
    records.push({ line: n, rec });
    lastLine = n;
    expectedSeq++;
  }
  return { lines: lines.length, site, bySeq, lastSeq: expectedSeq - 1, lastLine, notes, records };
}

function safeJson(line: string): unknown {
  try {
    return JSON.parse(line);
  } catch {
    return undefined;
  }
}

/** Certificates by fingerprint: the given ones and the kit's beside `<participant dir>/audit.log`. */
function certificateIndex(path: string, given: readonly string[]): Map<string, string> {
  const out = new Map<string, string>();
  const startup = join(dirname(path), "startup");
  const candidates = [
    ...given,
    ...["client.crt", "server.crt"]
      .map((f) => join(startup, f))
      .filter((f) => existsSync(f))
      .map((f) => readFileSync(f, "utf8")),
  ];
  for (const pem of candidates) {
    try {
      out.set(certificateFingerprint(pem), pem);
    } catch {
      // Not a certificate: ignored here; a checkpoint needing it reports the missing fingerprint.
    }
  }
  return out;
}

/** The site named by the kit beside the log (for an empty log, whose lines cannot say). */
function siteOfKit(path: string): string | undefined {
  for (const f of ["client.crt", "server.crt"]) {
    const p = join(dirname(path), "startup", f);
    if (existsSync(p)) return readCertificateInfo(readFileSync(p, "utf8")).commonName;
  }
  return undefined;
}

interface Finding {
  readonly badLine?: number;
  readonly witnessLine?: number;
  readonly text: string;
}

/** Compares every checkpoint the witness recorded for `site` with the log; returns the problems. */
function checkWitness(
  chain: ChainResult,
  site: string,
  witnessPath: string,
  witness: ChainResult,
  options: VerifyAuditLogOptions,
  certs: () => Map<string, string>,
): { findings: Finding[]; checked: number } {
  const findings: Finding[] = [];
  const wsite = witness.site ?? "the witness";
  let checked = 0;
  for (const { line: wl, rec } of witness.records) {
    // Refused checkpoints are written as denied lines: they witness nothing.
    if (rec.action !== WITNESS_ACTION || rec.peer !== site || rec.outcome !== "ok") continue;
    let cp: WitnessReason;
    try {
      cp = witnessReasonSchema.parse(JSON.parse(rec.reason ?? ""));
    } catch {
      findings.push({
        witnessLine: wl,
        text: `line ${wl} of the witness log ${witnessPath} is an ${WITNESS_ACTION} record whose reason is not a checkpoint (see docs/audit.md, "Witness records")`,
      });
      continue;
    }
    checked++;
    const at = `${wsite} witnessed line ${cp.seq} with hash ${cp.hash} at ${rec.time} (witness line ${wl})`;
    // Past the first chain problem nothing can be compared; that problem is reported instead.
    if (chain.problem && cp.seq > chain.lastSeq) continue;
    if (cp.seq > chain.lastSeq) {
      findings.push({
        badLine: chain.lastLine + 1,
        witnessLine: wl,
        text: `the log ends at line ${chain.lastLine} (seq ${chain.lastSeq}) but ${at}: lines were cut from the end`,
      });
    } else {
      const head = chain.bySeq.get(cp.seq);
      if (head && head.hash !== cp.hash) {
        findings.push({
          badLine: Math.max(1, head.line),
          witnessLine: wl,
          text: `line ${head.line} hashes to ${head.hash} but ${at}: the log was rewritten up to that line`,
        });
      }
    }
    if (options.rootPem !== undefined) {
      const problem = signatureProblem(site, cp, rec.time, options.rootPem, certs(), witnessPath);
      if (problem) findings.push({ witnessLine: wl, text: `witness line ${wl}: ${problem}` });
    }
  }
  return { findings, checked };
}

/** Why a witnessed checkpoint's signature does not hold, or undefined when it does. */
function signatureProblem(
  site: string,
  cp: WitnessReason,
  recordedAt: string,
  rootPem: string,
  certs: Map<string, string>,
  witnessPath: string,
): string | undefined {
  const cert = certs.get(cp.cert);
  if (cert === undefined) {
    throw new CohortError(
      AuditErrorCode.CertNotFound,
      `cannot check ${site}'s checkpoint signatures recorded in ${witnessPath}: certificate ${cp.cert} is not in <participant dir>/startup beside the log; pass it (--cert <${site}'s certificate>)`,
      { site, fingerprint: cp.cert },
    );
  }
  try {
    // Valid when the witness recorded it: a later expiry does not void old checkpoints.
    verifyCertificateChain(cert, rootPem, { at: new Date(recordedAt), label: `${site}'s certificate ${cp.cert}` });
  } catch (err) {
    return `the checkpoint's certificate does not hold: ${isCohortError(err) ? err.message : (err as Error).message}`;
  }
  const cn = readCertificateInfo(cert).commonName;
  if (cn !== site) return `the checkpoint of ${site} was signed with ${cn}'s certificate`;
  if (!verifyBytes(cert, checkpointBytes({ site, seq: cp.seq, hash: cp.hash, time: cp.time }), cp.sig)) {
    return `the signature of ${site}'s checkpoint of line ${cp.seq} does not match (the witness record was forged or altered)`;
  }
  return undefined;
}

/**
 * Verifies an audit log: every line of the writer's schema and form, one site, sequence numbers
 * 1, 2, 3…, each `prev` the SHA-256 of the line before. With a witness, every checkpoint the
 * witness recorded for this site must match the line at its `seq`, so a tail cut back behind a
 * witnessed checkpoint (undetectable from the log alone) is caught. Throws (CohortError) only for
 * unusable input: an unreadable file, or a certificate needed for a signature check not at hand.
 */
export function verifyAuditLog(path: string, options: VerifyAuditLogOptions = {}): AuditVerification {
  const chain = checkChain(readLogLines(path));
  const notes = [...chain.notes];
  const findings: Finding[] = chain.problem ? [{ badLine: chain.problem.line, text: chain.problem.text }] : [];
  let witnessFields: Pick<AuditVerification, "checkpointsChecked" | "signaturesChecked"> = {};
  if (options.witness !== undefined) {
    const witness = checkChain(readLogLines(options.witness, "witness log"));
    const site = options.site ?? chain.site ?? siteOfKit(path);
    if (witness.problem) {
      findings.push({
        witnessLine: witness.problem.line,
        text: `the witness log ${options.witness} is itself not intact (${witness.problem.text}); its checkpoints cannot be trusted`,
      });
    } else if (site === undefined) {
      findings.push({ badLine: 1, text: `the log is empty and its site is unknown; pass the site (--site <name>) to compare it with the witness` });
    } else if (witness.site === site) {
      throw new CohortError(
        AuditErrorCode.WitnessInvalid,
        `the witness ${options.witness} is ${site}'s own log; pass the peer's audit.log (e.g. the server's for a site, a site's for the server)`,
        { file: options.witness },
      );
    } else {
      let cache: Map<string, string> | undefined;
      const w = checkWitness(chain, site, options.witness, witness, options, () => (cache ??= certificateIndex(path, options.certs ?? [])));
      findings.push(...w.findings);
      witnessFields = { checkpointsChecked: w.checked, signaturesChecked: options.rootPem !== undefined && w.checked > 0 };
      if (w.checked === 0) notes.push(`the witness log ${options.witness} holds no checkpoint of ${site}: is it the right peer's log?`);
      else if (options.rootPem === undefined) notes.push("checkpoint signatures were not checked (pass the project root, --root rootCA.pem)");
    }
  }
  // The first problem by line of the verified log; witness-side problems after those.
  const first = [...findings].sort((a, b) => (a.badLine ?? Infinity) - (b.badLine ?? Infinity))[0];
  return {
    ok: first === undefined,
    lines: chain.lines,
    ...(first?.badLine !== undefined ? { badLine: first.badLine } : {}),
    ...(first ? { problem: first.text } : {}),
    ...(first?.witnessLine !== undefined ? { witnessLine: first.witnessLine } : {}),
    ...witnessFields,
    ...(notes.length > 0 ? { notes } : {}),
  };
}
