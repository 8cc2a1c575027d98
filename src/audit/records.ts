import { readFileSync } from "node:fs";
import { z } from "zod";
import { CohortError } from "../errors/index.js";
import { AuditErrorCode } from "./errors.js";
import type { AuditRecord } from "./audit-log.js";

/**
 * The exact shape `AuditLog.append` writes (docs/audit.md, "Line schema"). Strict: a field the
 * writer never writes means the line was edited (the chain only catches that from the next line
 * on, so the schema is what catches it on the last line).
 */
const nullableString = z.string().nullable();
export const auditRecordSchema = z.strictObject({
  v: z.literal(1),
  seq: z.number().int().positive(),
  id: z.string().min(1),
  ref: nullableString,
  time: z.iso.datetime(),
  site: z.string().min(1),
  user: nullableString,
  peer: nullableString,
  address: nullableString,
  action: z.string().min(1),
  outcome: z.enum(["ok", "denied", "error"]),
  code: nullableString,
  reason: nullableString,
  job: nullableString,
  prev: z.string().regex(/^[0-9a-f]{64}$/),
});

/** Parses one line; undefined when it is not a record of the writer's schema. */
export function parseRecord(line: string): AuditRecord | undefined {
  let json: unknown;
  try {
    json = JSON.parse(line);
  } catch {
    return undefined;
  }
  const r = auditRecordSchema.safeParse(json);
  return r.success ? r.data : undefined;
}

/** The lines of a log file (a final newline does not make an extra empty line). */
export function readLogLines(path: string, what = "audit log"): string[] {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (cause) {
    throw new CohortError(
      AuditErrorCode.LogUnreadable,
      `cannot read the ${what} ${path}: ${(cause as Error).message}; check the path (a participant's log is <participant dir>/audit.log)`,
      { file: path },
      { cause },
    );
  }
  if (text === "") return [];
  const lines = text.split("\n");
  if (lines[lines.length - 1] === "") lines.pop();
  return lines;
}
