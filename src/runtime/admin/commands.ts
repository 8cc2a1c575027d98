import { closest } from "../../config/index.js";

/**
 * The admin commands (FLARE's names): where each runs and how it is used. Server commands are
 * authorised by the server's policy; site commands are forwarded, signed by the admin, and each
 * site verifies and authorises them with its own policy.
 */
export interface AdminCommandInfo {
  readonly scope: "server" | "site";
  readonly usage: string;
  readonly help: string;
  /** The job id argument whose submitter the policy's o:submitter / n:submitter refer to. */
  readonly jobArg?: boolean;
  /**
   * Asks first, as FLARE's console does: "yes_no" (confirm=YESNO: "Are you sure (y/N)") or
   * "user_name" (confirm=AUTH: the admin types their name). `cohort admin --yes` answers it.
   */
  readonly confirm?: "yes_no" | "user_name";
}

const T = "server|client [sites…]|all";

export const ADMIN_COMMANDS: Readonly<Record<string, AdminCommandInfo>> = {
  submit_job: { scope: "server", usage: "submit_job <job folder>", help: "sign, upload and queue a job folder; prints the job id" },
  list_jobs: {
    scope: "server",
    usage: "list_jobs [-n name_prefix] [-d] [-u] [-r] [-m N] [job_id_prefix]",
    help: "jobs with status and run duration (-d every job's meta, -u yours, -r newest first, -m at most N)",
  },
  get_job_meta: { scope: "server", usage: "get_job_meta <job id>", help: "a job's stored meta (status, submitter, rounds, reasons)", jobArg: true },
  abort_job: { scope: "server", usage: "abort_job <job id>", help: "stop a job at the server and every site", jobArg: true, confirm: "yes_no" },
  clone_job: {
    scope: "server",
    usage: "clone_job <job id>",
    help: "submit a copy of a job (same folder, new id), checked and signed again with your key",
    jobArg: true,
  },
  delete_job: { scope: "server", usage: "delete_job <job id>", help: "remove a finished job from the job store", jobArg: true, confirm: "user_name" },
  delete_workspace: {
    scope: "server",
    usage: "delete_workspace <job id>",
    help: "delete a finished job's run folder at the server (results, models, logs); the job stays listed",
    jobArg: true,
    confirm: "user_name",
  },
  download_job: { scope: "server", usage: "download_job <job id>", help: "the job's results into <admin kit>/transfer/<job id>/", jobArg: true },
  show_stats: {
    scope: "server",
    usage: "show_stats <job id> [server|client [sites…]]",
    help: "a job's rounds and metrics (client: those of the named sites)",
    jobArg: true,
  },
  show_errors: { scope: "server", usage: "show_errors <job id>", help: "a job's failure reasons", jobArg: true },
  reset_errors: { scope: "server", usage: "reset_errors <job id>", help: "clear the errors show_errors reports for a job", jobArg: true },
  check_status: { scope: "site", usage: `check_status ${T}`, help: "the server and its connected sites (client: asks each site)" },
  remove_client: {
    scope: "server",
    usage: "remove_client <site>",
    help: "disconnect a site and refuse its logins until enable_client (kept across restarts)",
    confirm: "user_name",
  },
  enable_client: { scope: "server", usage: "enable_client <site>", help: "let a removed site log in again" },
  shutdown: { scope: "site", usage: `shutdown ${T}`, help: "stop the server or sites (their supervisor does not restart them)", confirm: "user_name" },
  restart: { scope: "site", usage: `restart ${T}`, help: "restart the server or sites (needs start.sh's supervisor)", confirm: "user_name" },
  sys_info: { scope: "site", usage: `sys_info ${T}`, help: "platform, Node.js, CPUs, memory and running jobs" },
  report_resources: { scope: "site", usage: `report_resources ${T}`, help: "capacity and reservations (the server: unlimited)" },
  report_env: { scope: "site", usage: "report_env client [sites…]", help: "a site's name, folder, secure mode and server address" },
  show_scopes: { scope: "site", usage: "show_scopes client [sites…]", help: "a site's privacy scopes (local/privacy.json): default, filters, budgets" },
  show_privacy_budget: {
    scope: "site",
    usage: "show_privacy_budget client [sites…]",
    help: "a site's privacy-budget spend per scope and job (basic composition)",
  },
  pwd: { scope: "site", usage: "pwd server|<site>", help: "the participant's folder" },
  ls: { scope: "site", usage: "ls server|<site> [-a] [-l] [-t] [-S] [-R] [-r] [-u] [path]", help: "list a folder (never startup/)" },
  cat: { scope: "site", usage: "cat server|<site> [-n] [-b] [-s] [-T] <file>", help: "print a file" },
  head: { scope: "site", usage: "head server|<site> [-n N] [-c N] <file>", help: "first lines (or bytes) of a file" },
  tail: { scope: "site", usage: "tail server|<site> [-n N] [-c N] <file>", help: "last lines (or bytes) of a file" },
  grep: { scope: "site", usage: "grep server|<site> [-n] [-i] [-v] [-b] <pattern> <file>", help: "lines of a file matching a pattern" },
};

/** Console-only commands (not sent to the server). */
export const CONSOLE_COMMANDS: Readonly<Record<string, string>> = {
  help: "help [command]: list commands, or one command's usage",
  bye: "bye: leave the console (also exit, quit, Ctrl-D)",
  lpwd: "lpwd: the admin kit's folder (where transfer/ is)",
  info: "info: where submit_job looks for job folders and download_job puts results",
};

/** "Did you mean" for an unknown command: the nearest name within a third of its length (at least 2 edits). */
export function nearestCommand(input: string): string | undefined {
  return closest(input, [...Object.keys(ADMIN_COMMANDS), ...Object.keys(CONSOLE_COMMANDS)], Math.max(2, Math.floor(input.length / 3)));
}
