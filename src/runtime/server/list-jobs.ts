import type { ListJobsArgs } from "../admin/shell-args.js";
import type { StoredJobMeta } from "../jobs/store.js";

/** One row of list_jobs (FLARE's summary table: Job ID, Name, Status, Submit Time, Run Duration). */
export interface JobRow {
  readonly job_id: string;
  readonly name: string;
  readonly status: string;
  readonly submit_time: string;
  readonly duration: string;
  readonly submitter: string;
  readonly rounds: number;
  readonly total_rounds?: number;
}

/** FLARE's duration: str(timedelta) while running ("0:01:02.345678"), else N/A. */
function duration(m: StoredJobMeta, now: number): string {
  if (m.status !== "RUNNING" || !m.start_time_iso) return "N/A";
  const ms = Math.max(0, now - Date.parse(m.start_time_iso));
  const s = Math.floor(ms / 1000);
  const micro = String((ms % 1000) * 1000).padStart(6, "0");
  return `${Math.floor(s / 3600)}:${String(Math.floor(s / 60) % 60).padStart(2, "0")}:${String(s % 60).padStart(2, "0")}.${micro}`;
}

/**
 * list_jobs with FLARE's filters (job_cmds.py): id prefix and -n name prefix (case-insensitive),
 * -u the caller's own, sorted by submit time (-r newest first), -m the last N (with -r the first
 * N). -d gives each job's whole meta.
 */
export function listJobs(all: readonly StoredJobMeta[], a: ListJobsArgs, user: string, now = Date.now()): JobRow[] | StoredJobMeta[] {
  const jobs = all
    .filter((m) => !a.idPrefix || m.job_id.toLowerCase().startsWith(a.idPrefix.toLowerCase()))
    .filter((m) => !a.namePrefix || m.name.toLowerCase().startsWith(a.namePrefix.toLowerCase()))
    .filter((m) => !a.mine || m.submitter_name === user)
    .sort((x, y) => x.submit_time_iso.localeCompare(y.submit_time_iso) * (a.reverse ? -1 : 1));
  const shown = a.max === undefined ? jobs : a.reverse ? jobs.slice(0, a.max) : jobs.slice(-a.max);
  if (a.detailed) return shown;
  return shown.map((m) => ({
    job_id: m.job_id,
    name: m.name,
    status: m.status,
    submit_time: m.submit_time_iso,
    duration: duration(m, now),
    submitter: m.submitter_name,
    rounds: m.rounds.length,
    ...(m.total_rounds !== undefined ? { total_rounds: m.total_rounds } : {}),
  }));
}
