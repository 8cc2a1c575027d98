/**
 * The job's metrics as they reach the server: one JSON line per value in `<run>/metrics.jsonl`
 * (site, task, round, key, value, step, and whether the value came with the result or was logged
 * during the task), so tools read them and `download_job` returns them. Values are already bounded
 * by each site (the site gate); the file is bounded too, and says so once when it stops growing.
 */
import { appendFileSync, statSync } from "node:fs";
import { join } from "node:path";
import type { FLModel } from "../../wire/index.js";

export const METRICS_FILE = "metrics.jsonl";
/** Meta key under which executors carry values logged during a task: [key, value, step|null][] (bounded by the site gate). */
export const LOGGED_META_KEY = "cohort.logged";
const MAX_FILE_BYTES = 64 * 1024 * 1024;

export interface MetricEntry {
  readonly site: string;
  readonly task: string;
  readonly round: number | null;
  readonly key: string;
  readonly value: number;
  readonly step: number | null;
  readonly source: "result" | "log";
  readonly at: string;
}

/** The numeric, finite metrics of a result (what a matrix or a round's metrics hold). */
export function numericMetrics(m: FLModel): Record<string, number> {
  return Object.fromEntries(Object.entries(m.metrics ?? {}).filter((e): e is [string, number] => typeof e[1] === "number" && Number.isFinite(e[1])));
}

/** The values of one result: its metrics, then the series logged while it ran. */
export function metricEntries(site: string, task: string, model: FLModel, at = new Date()): MetricEntry[] {
  const round = model.currentRound;
  const when = at.toISOString();
  const out: MetricEntry[] = [];
  for (const [key, value] of Object.entries(model.metrics ?? {}))
    if (typeof value === "number" && Number.isFinite(value)) out.push({ site, task, round, key, value, step: round, source: "result", at: when });
  const logged = model.meta[LOGGED_META_KEY];
  if (Array.isArray(logged))
    for (const e of logged) {
      if (!Array.isArray(e)) continue;
      const [key, value, step] = e as unknown[];
      if (typeof key === "string" && typeof value === "number" && Number.isFinite(value))
        out.push({ site, task, round, key, value, step: typeof step === "number" && Number.isInteger(step) ? step : null, source: "log", at: when });
    }
  return out;
}

export class JobMetricsLog {
  private readonly file: string;
  private full = false;

  constructor(
    runDir: string,
    private readonly warn: (line: string) => void,
  ) {
    this.file = join(runDir, METRICS_FILE);
  }

  /** Appends the result's values; returns them (listeners such as TBAnalyticsReceiver get them too). */
  record(site: string, task: string, model: FLModel): MetricEntry[] {
    const entries = metricEntries(site, task, model);
    if (this.full) return entries;
    const lines = entries.map((e) => `${JSON.stringify(e)}\n`).join("");
    if (!lines) return entries;
    let size = 0;
    try {
      size = statSync(this.file).size;
    } catch {
      // not written yet
    }
    if (size + lines.length > MAX_FILE_BYTES) {
      this.full = true;
      this.warn(`${METRICS_FILE} reached ${MAX_FILE_BYTES} bytes: later metrics of this job are not stored`);
      return entries;
    }
    appendFileSync(this.file, lines, { mode: 0o644 });
    return entries;
  }
}
