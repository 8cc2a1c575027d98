import { existsSync, statSync } from "node:fs";
import { join, resolve } from "node:path";
import { CohortError } from "../errors/index.js";
import type { AuditOutcome, AuditRecord } from "./audit-log.js";
import { AuditErrorCode } from "./errors.js";
import { parseRecord, readLogLines } from "./records.js";

/**
 * `traceEvent`: follows one admin command or task across sites' logs by their `ref` links
 * (docs/audit.md, "Tracing"). Tracing does not verify: run `verifyAuditLog` on each log first
 * when the result must be trusted.
 */
export interface TraceStep {
  /**
   * `cause`: an event the traced one follows from (up its `ref` chain); `event`: the traced event;
   * `effect`: an event that follows from it (references it, directly or through other effects).
   */
  readonly relation: "cause" | "event" | "effect";
  readonly id: string;
  readonly ref: string | null;
  readonly site: string;
  readonly seq: number;
  readonly time: string;
  readonly action: string;
  readonly outcome: AuditOutcome;
  readonly user: string | null;
  readonly peer: string | null;
  readonly job: string | null;
  readonly code: string | null;
  readonly reason: string | null;
  /** The log file and line the event was read from. */
  readonly log: string;
  readonly line: number;
  /** Set when this event references an id found in none of the logs (a log not given, or cut). */
  readonly missingRef?: string;
}

interface Located {
  readonly rec: AuditRecord;
  readonly log: string;
  readonly line: number;
}

/** A participant folder stands for its `audit.log`. */
function logFile(path: string): string {
  return existsSync(path) && statSync(path).isDirectory() ? join(path, "audit.log") : path;
}

function load(logs: readonly string[]): Located[] {
  const seen = new Set<string>();
  const out: Located[] = [];
  for (const given of logs) {
    const file = logFile(given);
    const key = resolve(file);
    if (seen.has(key)) continue; // the same log named twice would double every step
    seen.add(key);
    for (const [i, line] of readLogLines(file).entries()) {
      // Unreadable lines are skipped: verification is verifyAuditLog's job, tracing is best effort.
      const rec = parseRecord(line);
      if (rec) out.push({ rec, log: file, line: i + 1 });
    }
  }
  return out;
}

/**
 * The events linked to `eventId` across `logs` (files, or participant folders holding
 * audit.log): its causes (following `ref` upwards) and its effects (every event whose `ref` chain
 * leads to it), ordered by time. Cycles (only possible in edited logs) end the walk; a `ref` to an
 * event in none of the logs is marked on the step (`missingRef`). Throws ERR_AUDIT_TRACE_NOT_FOUND
 * when neither the event nor anything referencing it is in the logs.
 */
export function traceEvent(eventId: string, logs: readonly string[]): TraceStep[] {
  const all = load(logs);
  const byId = new Map<string, Located>();
  const byRef = new Map<string, Located[]>();
  for (const l of all) {
    if (!byId.has(l.rec.id)) byId.set(l.rec.id, l);
    if (l.rec.ref !== null) byRef.set(l.rec.ref, [...(byRef.get(l.rec.ref) ?? []), l]);
  }
  if (!byId.has(eventId) && !byRef.has(eventId)) {
    throw new CohortError(
      AuditErrorCode.TraceNotFound,
      `event ${eventId} is in none of the logs given (${logs.join(", ")}) and nothing there references it; pass the log of the site that wrote it (event ids are printed in each line's "id")`,
      {
        eventId,
      },
    );
  }
  const steps = new Map<Located, TraceStep["relation"]>();
  // Causes: up the ref chain; `visited` stops a cycle of edited refs.
  const visited = new Set<string>([eventId]);
  let up = byId.get(eventId)?.rec.ref ?? null;
  while (up !== null && !visited.has(up)) {
    visited.add(up);
    const cause = byId.get(up);
    if (!cause) break;
    steps.set(cause, "cause");
    up = cause.rec.ref;
  }
  const self = byId.get(eventId);
  if (self) steps.set(self, "event");
  // Effects: breadth-first over "referenced by".
  const queue = [eventId];
  const expanded = new Set<string>();
  for (let id = queue.shift(); id !== undefined; id = queue.shift()) {
    if (expanded.has(id)) continue;
    expanded.add(id);
    for (const effect of byRef.get(id) ?? []) {
      if (!steps.has(effect)) steps.set(effect, "effect");
      queue.push(effect.rec.id);
    }
  }
  return [...steps.entries()]
    .map(([l, relation]): TraceStep => {
      const r = l.rec;
      const missing = r.ref !== null && !byId.has(r.ref);
      return {
        relation,
        id: r.id,
        ref: r.ref,
        site: r.site,
        seq: r.seq,
        time: r.time,
        action: r.action,
        outcome: r.outcome,
        user: r.user,
        peer: r.peer,
        job: r.job,
        code: r.code,
        reason: r.reason,
        log: l.log,
        line: l.line,
        ...(missing && r.ref !== null ? { missingRef: r.ref } : {}),
      };
    })
    .sort((a, b) => Date.parse(a.time) - Date.parse(b.time) || a.site.localeCompare(b.site) || a.seq - b.seq);
}
