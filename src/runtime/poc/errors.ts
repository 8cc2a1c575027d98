/** Error codes of runtime/poc/ (`cohort poc`); callers switch on `err.code`, never on messages. */

/** `cohort poc`. */
export const PocErrorCode = {
  Usage: "ERR_POC_USAGE",
  Workspace: "ERR_POC_WORKSPACE",
  NotPrepared: "ERR_POC_NOT_PREPARED",
  Start: "ERR_POC_START",
  Stop: "ERR_POC_STOP",
} as const;
export type PocErrorCode = (typeof PocErrorCode)[keyof typeof PocErrorCode];
