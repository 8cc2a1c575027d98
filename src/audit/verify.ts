import { readFileSync } from "node:fs";
import { z } from "zod";
import { GENESIS_HASH, lineHash } from "./audit-log.js";

const recordSchema = z.object({
  v: z.literal(1),
  seq: z.number().int().positive(),
  id: z.string(),
  prev: z.string().regex(/^[0-9a-f]{64}$/),
  time: z.string(),
  site: z.string(),
  action: z.string(),
  outcome: z.enum(["ok", "denied", "error"]),
});

export interface AuditVerification {
  readonly ok: boolean;
  readonly lines: number;
  /** 1-based line number of the first problem. */
  readonly badLine?: number;
  readonly problem?: string;
}

/** Checks the hash chain and the sequence numbers of an audit log. */
export function verifyAuditLog(path: string): AuditVerification {
  const lines = readFileSync(path, "utf8").split("\n");
  if (lines[lines.length - 1] === "") lines.pop();
  let prev = GENESIS_HASH;
  let expectedSeq = 1;
  for (const [i, line] of lines.entries()) {
    const n = i + 1;
    let rec: z.infer<typeof recordSchema>;
    try {
      rec = recordSchema.parse(JSON.parse(line));
    } catch {
      return { ok: false, lines: lines.length, badLine: n, problem: "not a valid audit record" };
    }
    if (rec.prev !== prev) return { ok: false, lines: lines.length, badLine: n, problem: "hash chain broken: the previous line was altered, removed or inserted" };
    if (rec.seq !== expectedSeq) return { ok: false, lines: lines.length, badLine: n, problem: `sequence ${rec.seq} where ${expectedSeq} was expected: a line was removed or inserted` };
    prev = lineHash(line);
    expectedSeq++;
  }
  return { ok: true, lines: lines.length };
}
