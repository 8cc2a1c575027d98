/** Shared fixtures of the audit tests: a provisioned project, logs with lines, witnessed checkpoints. */
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { AuditLog, createCheckpoint, recordWitness, verifyCheckpoint } from "../../src/audit/index.js";
import { provisionTestProject, type Kit, type TestProject } from "../helpers/secure-session.js";
import { tempDir } from "../helpers/index.js";

export { provisionTestProject };
export type { Kit, TestProject };

/** A clock that advances one second per reading, so line order and time order agree. */
export function steppingClock(start = Date.now()): () => Date {
  let t = start;
  return () => new Date((t += 1000));
}

/** Writes `n` simple lines to a new log of `site` (in `<dir>/<site>/audit.log`). */
export function logWithLines(site: string, n: number, dir = tempDir("cohort-audit-")): { log: AuditLog; path: string } {
  const path = join(dir, site, "audit.log");
  const log = AuditLog.open(path, site, { clock: steppingClock() });
  for (let i = 0; i < n; i++) log.append({ action: "event", outcome: "ok", reason: `n${i}` });
  return { log, path };
}

/** The site checkpoints its head; the witness verifies it and records it. */
export function witness(site: AuditLog, kit: Kit, witnessLog: AuditLog): string {
  const cp = createCheckpoint(site, kit);
  verifyCheckpoint(cp, kit.rootPem, { peer: kit.name });
  return recordWitness(witnessLog, cp);
}

export function lines(path: string): string[] {
  return readFileSync(path, "utf8")
    .split("\n")
    .filter((l) => l !== "");
}

/** Writes `ls` as a log file next to the original (a tampered copy). */
export function writeLines(path: string, ls: readonly string[], name = `t${Math.random().toString(36).slice(2)}.log`): string {
  const p = join(path, "..", name);
  writeFileSync(p, ls.length ? `${ls.join("\n")}\n` : "");
  return p;
}
