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
}

export const ADMIN_COMMANDS: Readonly<Record<string, AdminCommandInfo>> = {
  submit_job: { scope: "server", usage: "submit_job <job folder>", help: "sign, upload and queue a job folder; prints the job id" },
  list_jobs: { scope: "server", usage: "list_jobs", help: "all jobs with status and progress" },
  get_job_meta: { scope: "server", usage: "get_job_meta <job id>", help: "a job's stored meta (status, submitter, rounds, reasons)", jobArg: true },
  abort_job: { scope: "server", usage: "abort_job <job id>", help: "stop a job at the server and every site", jobArg: true },
  clone_job: {
    scope: "server",
    usage: "clone_job <job id>",
    help: "submit a copy of a job (same folder, new id), checked and signed again with your key",
    jobArg: true,
  },
  delete_job: { scope: "server", usage: "delete_job <job id>", help: "remove a finished job from the job store", jobArg: true },
  download_job: { scope: "server", usage: "download_job <job id>", help: "the job's results into <admin kit>/transfer/<job id>/", jobArg: true },
  show_stats: { scope: "server", usage: "show_stats <job id>", help: "a running job's rounds and metrics", jobArg: true },
  show_errors: { scope: "server", usage: "show_errors <job id>", help: "a job's failure reasons", jobArg: true },
  check_status: { scope: "server", usage: "check_status server|client", help: "the server and its connected sites (client: asks each site)" },
  remove_client: { scope: "server", usage: "remove_client <site>", help: "disconnect a site and refuse its logins until enable_client (kept across restarts)" },
  enable_client: { scope: "server", usage: "enable_client <site>", help: "let a removed site log in again" },
  shutdown: { scope: "site", usage: "shutdown server|<site>|@ALL", help: "stop the server or sites (their supervisor does not restart them)" },
  restart: { scope: "site", usage: "restart server|<site>|@ALL", help: "restart the server or sites (needs start.sh's supervisor)" },
  sys_info: { scope: "site", usage: "sys_info <site|@ALL>", help: "a site's platform, Node.js, CPUs, memory and running jobs" },
  report_resources: { scope: "site", usage: "report_resources <site|@ALL>", help: "a site's capacity and reservations" },
  show_scopes: { scope: "site", usage: "show_scopes <site|@ALL>", help: "a site's privacy scopes (local/privacy.json): default, filters, budgets" },
  show_privacy_budget: { scope: "site", usage: "show_privacy_budget <site|@ALL>", help: "a site's privacy-budget spend per scope and job (basic composition)" },
  pwd: { scope: "site", usage: "pwd <site>", help: "the site's workspace" },
  ls: { scope: "site", usage: "ls <site> [path]", help: "list a folder in the site's workspace (never startup/)" },
  cat: { scope: "site", usage: "cat <site> <file>", help: "print a file from the site's workspace" },
  head: { scope: "site", usage: "head <site> <file> [lines]", help: "first lines of a file" },
  tail: { scope: "site", usage: "tail <site> <file> [lines]", help: "last lines of a file" },
  grep: { scope: "site", usage: "grep <site> <pattern> <file>", help: "lines of a file matching a pattern" },
};

/** Console-only commands (not sent to the server). */
export const CONSOLE_COMMANDS: Readonly<Record<string, string>> = {
  help: "help [command]: list commands, or one command's usage",
  bye: "bye: leave the console (also exit, quit, Ctrl-D)",
};

/** "Did you mean" for an unknown command: the nearest name within a third of its length (at least 2 edits). */
export function nearestCommand(input: string): string | undefined {
  return closest(input, [...Object.keys(ADMIN_COMMANDS), ...Object.keys(CONSOLE_COMMANDS)], Math.max(2, Math.floor(input.length / 3)));
}
