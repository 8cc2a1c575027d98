import { createHash, randomUUID } from "node:crypto";
import { closeSync, existsSync, fstatSync, mkdirSync, openSync, readSync, writeSync } from "node:fs";
import { dirname } from "node:path";

/**
 * The site audit log: JSON lines, each carrying the SHA-256 of the previous line's bytes, so a
 * changed, removed or inserted line breaks the chain (see docs/audit.md). One file per site:
 * `<participant dir>/audit.log`. Writes are synchronous appends of whole lines.
 */
export type AuditOutcome = "ok" | "denied" | "error";

export interface AuditEventInput {
  /** What happened, dotted lower-case (e.g. `link.refused`, `login`, `message.refused`). */
  readonly action: string;
  readonly outcome: AuditOutcome;
  /** Why (for denied/error), human-readable; never key material. */
  readonly reason?: string;
  /** Stable error code when denied/error. */
  readonly code?: string;
  /** The identity acting (admin user or site name), when known. */
  readonly user?: string;
  /** The remote peer (participant name) and address, when known. */
  readonly peer?: string;
  readonly address?: string;
  /** Event id at another site this event follows from (cross-site correlation). */
  readonly ref?: string;
  readonly job?: string;
}

export interface AuditRecord {
  /** Schema version. */
  readonly v: 1;
  /** Position in this log, from 1. */
  readonly seq: number;
  readonly id: string;
  readonly ref: string | null;
  readonly time: string;
  readonly site: string;
  readonly user: string | null;
  readonly peer: string | null;
  readonly address: string | null;
  readonly action: string;
  readonly outcome: AuditOutcome;
  readonly code: string | null;
  readonly reason: string | null;
  readonly job: string | null;
  /** Hex SHA-256 of the previous line (without its newline); 64 zeros for the first line. */
  readonly prev: string;
}

export const GENESIS_HASH = "0".repeat(64);
const MAX_REASON = 1000;

export function lineHash(line: string): string {
  return createHash("sha256").update(line, "utf8").digest("hex");
}

/**
 * Reads the last `count` lines of a file, oldest first, scanning back from the end in blocks
 * (a long log is never read whole). Trailing newlines are ignored.
 */
export function lastLines(fd: number, count: number): string[] {
  const size = fstatSync(fd).size;
  if (size === 0) return [];
  const block = 64 * 1024;
  let end = size;
  let tail = Buffer.alloc(0);
  while (end > 0) {
    const start = Math.max(0, end - block);
    const buf = Buffer.alloc(end - start);
    readSync(fd, buf, 0, buf.length, start);
    tail = Buffer.concat([buf, tail]);
    const lines = tail.toString("utf8").replace(/\n+$/, "").split("\n");
    // The first piece may be a partial line unless the scan reached the start of the file.
    if (lines.length > count || start === 0) return lines.slice(-count);
    end = start;
  }
  return [];
}

export class AuditLog {
  private fd: number | undefined;
  private seq = 0;
  private prev = GENESIS_HASH;

  private constructor(
    readonly path: string,
    readonly site: string,
    private readonly clock: () => Date,
  ) {}

  /** Opens (creating) the log and continues its chain from the last line. */
  static open(path: string, site: string, options: { clock?: () => Date } = {}): AuditLog {
    mkdirSync(dirname(path), { recursive: true });
    const log = new AuditLog(path, site, options.clock ?? (() => new Date()));
    const existed = existsSync(path);
    log.fd = openSync(path, "a+", 0o600);
    if (existed) {
      const size = fstatSync(log.fd).size;
      if (size > 0) {
        const lastByte = Buffer.alloc(1);
        readSync(log.fd, lastByte, 0, 1, size - 1);
        // A crash mid-write leaves a line without its newline: end it, so it stays one line.
        if (lastByte[0] !== 0x0a) writeSync(log.fd, "\n");
      }
      const tail = lastLines(log.fd, 2);
      const last = tail[tail.length - 1];
      const before = tail.length === 2 ? tail[0] : undefined;
      if (last !== undefined && last !== "") {
        log.prev = lineHash(last);
        const seqOf = (line: string | undefined): number | undefined => {
          try {
            const rec = JSON.parse(line ?? "") as { seq?: unknown };
            return typeof rec.seq === "number" && Number.isSafeInteger(rec.seq) ? rec.seq : 0;
          } catch {
            return undefined;
          }
        };
        const seq = seqOf(last);
        if (seq !== undefined) log.seq = seq;
        else {
          // A torn last line (crash mid-write) stays in the chain as it is; the next line records it.
          // The fragment never became a record, so numbering continues from the line before it
          // (verifyAuditLog expects exactly this: see docs/audit.md, "Torn lines").
          log.seq = seqOf(before) ?? 0;
          log.append({ action: "audit.torn_line", outcome: "error", reason: "the previous line was incomplete when the log was reopened" });
        }
      }
    }
    return log;
  }

  /** Appends one event; returns its id (to reference from other sites' events). */
  append(event: AuditEventInput): string {
    if (this.fd === undefined) throw new Error(`audit log ${this.path} is closed`);
    const record: AuditRecord = {
      v: 1,
      seq: this.seq + 1,
      id: randomUUID(),
      ref: event.ref ?? null,
      time: this.clock().toISOString(),
      site: this.site,
      user: event.user ?? null,
      peer: event.peer ?? null,
      address: event.address ?? null,
      action: event.action,
      outcome: event.outcome,
      code: event.code ?? null,
      reason: event.reason === undefined ? null : event.reason.slice(0, MAX_REASON),
      job: event.job ?? null,
      prev: this.prev,
    };
    const line = JSON.stringify(record);
    writeSync(this.fd, `${line}\n`);
    this.seq = record.seq;
    this.prev = lineHash(line);
    return record.id;
  }

  /** Sequence number and hash of the last line (the chain head, for checkpoints). */
  head(): { seq: number; hash: string } {
    return { seq: this.seq, hash: this.prev };
  }

  close(): void {
    if (this.fd !== undefined) closeSync(this.fd);
    this.fd = undefined;
  }
}
