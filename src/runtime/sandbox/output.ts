/**
 * Job output on its way into the site's log: job code controls these bytes, so each line is cut at
 * a bounded length, a job's total is bounded, and control characters are escaped. A job cannot
 * write a line that looks like one of the site's own: every line it causes starts with its prefix
 * and holds no carriage return, escape sequence or line separator.
 */
import type { AuditLog } from "../../audit/index.js";
import { RuntimeErrorCode } from "../jobs/errors.js";

/** Control characters (C0 but tab, DEL, C1) and Unicode line/paragraph separators, written as escapes. */
// eslint-disable-next-line no-control-regex
const CONTROL = /[\u0000-\u0008\u000a-\u001f\u007f-\u009f\u2028\u2029]/g;

export function escapeControl(text: string): string {
  return text.replace(CONTROL, (c) => {
    if (c === "\r") return "\\r";
    if (c === "\n") return "\\n";
    const code = c.charCodeAt(0);
    return code <= 0xff ? `\\x${code.toString(16).padStart(2, "0")}` : `\\u${code.toString(16).padStart(4, "0")}`;
  });
}

export interface OutputRelayOptions {
  /** Written before every line, e.g. "job 1a2b3c4d out: ". */
  readonly prefix: string;
  readonly log: (line: string) => void;
  /** Longest line kept (bytes); the rest of that line is dropped and counted. */
  readonly maxLineBytes?: number;
  /** Bytes a job may write into the site's log in all; then its output is dropped and counted. */
  readonly maxTotalBytes?: number;
  /** Called once, the first time a limit drops bytes. */
  readonly onLimit?: (what: string) => void;
}

export const MAX_JOB_LINE_BYTES = 8 * 1024;
export const MAX_JOB_OUTPUT_BYTES = 64 * 1024 * 1024;

/** One stream (stdout or stderr) of one job, line by line into the site's log. */
export class OutputRelay {
  private parts: Buffer[] = [];
  private partBytes = 0;
  /** Bytes of the current line dropped after it reached maxLineBytes. */
  private cut = 0;
  private total = 0;
  private dropped = 0;
  private limited = false;
  private readonly maxLine: number;
  private readonly maxTotal: number;

  constructor(private readonly o: OutputRelayOptions) {
    this.maxLine = o.maxLineBytes ?? MAX_JOB_LINE_BYTES;
    this.maxTotal = o.maxTotalBytes ?? MAX_JOB_OUTPUT_BYTES;
  }

  /** Bytes dropped so far (cut lines and output past the total). */
  get droppedBytes(): number {
    return this.dropped + this.cut;
  }

  write(chunk: Buffer): void {
    let at = 0;
    while (at < chunk.length) {
      const nl = chunk.indexOf(10, at);
      const end = nl < 0 ? chunk.length : nl;
      this.take(chunk.subarray(at, end));
      if (nl < 0) break;
      this.flush();
      at = nl + 1;
    }
  }

  /** The stream ended: a last line without a newline is still logged. */
  end(): void {
    if (this.partBytes > 0 || this.cut > 0) this.flush();
  }

  private take(bytes: Buffer): void {
    const room = this.maxLine - this.partBytes;
    if (bytes.length <= room) {
      if (bytes.length > 0) this.parts.push(Buffer.from(bytes));
      this.partBytes += bytes.length;
      return;
    }
    if (room > 0) this.parts.push(Buffer.from(bytes.subarray(0, room)));
    this.partBytes += Math.max(0, room);
    this.cut += bytes.length - Math.max(0, room);
    this.limit(`a line longer than ${this.maxLine} bytes`);
  }

  private flush(): void {
    const bytes = this.partBytes;
    const text = Buffer.concat(this.parts).toString("utf8");
    const cut = this.cut;
    this.parts = [];
    this.partBytes = 0;
    this.cut = 0;
    if (this.total + bytes > this.maxTotal) {
      this.dropped += bytes + cut;
      this.limit(`more than ${this.maxTotal} bytes of output`);
      return;
    }
    this.total += bytes;
    this.dropped += cut;
    this.o.log(`${this.o.prefix}${escapeControl(text)}${cut > 0 ? ` [line cut: ${cut} more bytes dropped]` : ""}`);
  }

  private limit(what: string): void {
    if (this.limited) return;
    this.limited = true;
    this.o.onLimit?.(what);
  }
}

export interface EachLineOptions {
  /** Longest line passed on (characters); longer ones are cut and `onCut` called. */
  readonly maxLineChars?: number;
  /** Characters held without a newline before they are passed on as one cut line. */
  readonly maxPendingChars?: number;
  /** Called when a line is cut, with what happened. */
  readonly onCut?: (what: string) => void;
}

/**
 * Calls `onLine` for each line of a text stream (and the unterminated rest at its end); keeps the
 * stream drained and, with the bounds, memory bounded whatever the writer prints.
 */
export function eachLine(stream: NodeJS.ReadableStream | null | undefined, onLine: (line: string) => void, o: EachLineOptions = {}): void {
  const maxLine = o.maxLineChars ?? Number.POSITIVE_INFINITY;
  const maxPending = o.maxPendingChars ?? Number.POSITIVE_INFINITY;
  let buf = "";
  stream?.on("data", (d: Buffer | string) => {
    buf += d.toString();
    let nl: number;
    while ((nl = buf.indexOf("\n")) >= 0) {
      if (nl > maxLine) o.onCut?.(`a line longer than ${maxLine} characters`);
      onLine(buf.slice(0, Math.min(nl, maxLine)));
      buf = buf.slice(nl + 1);
    }
    if (buf.length > maxPending) {
      onLine(buf.slice(0, maxLine));
      buf = "";
      o.onCut?.(`more than ${maxPending} characters without a newline`);
    }
  });
  stream?.on("end", () => {
    if (buf) onLine(buf.slice(0, maxLine));
  });
}

/** The audit line a job's output past a limit leaves, once per job (the JobChild's onOutputLimit). */
export function outputLimitAuditor(audit: Pick<AuditLog, "append">, jobId: string): (what: string) => void {
  return (what) =>
    audit.append({
      action: "job.output",
      outcome: "denied",
      job: jobId,
      code: RuntimeErrorCode.OutputLimit,
      reason: `the job's output went past a limit (${what}); the rest is dropped`,
    });
}
