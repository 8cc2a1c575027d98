/** Error codes of `cohort job` (FLARE's `nvflare job`: templates, create, show_variables); callers switch on `err.code`, never on messages. */
export const JobTemplateErrorCode = {
  /** A flag is missing, unknown or malformed. */
  Usage: "ERR_JOB_TEMPLATE_USAGE",
  /** `-w` names no template (the message lists the known ones). */
  UnknownTemplate: "ERR_JOB_TEMPLATE_UNKNOWN",
  /** A template folder cannot be used (no config files, a link, a file that is not a config). */
  BadTemplate: "ERR_JOB_TEMPLATE_INVALID",
  /** The job folder exists and --force was not given, or cannot be replaced. */
  JobExists: "ERR_JOB_TEMPLATE_EXISTS",
  /** A `-f` file is not one of the job's config files, or a key=value does not fit it. */
  BadEdit: "ERR_JOB_TEMPLATE_EDIT",
  /** The script folder (`-sd`) cannot be copied: missing, a link out of it, a special file, or it holds the job folder. */
  BadScriptDir: "ERR_JOB_TEMPLATE_SCRIPT_DIR",
  /** The job folder was written but does not load as a job (e.g. an -f value its schema refuses); the folder is kept to be fixed. */
  NotLoadable: "ERR_JOB_TEMPLATE_NOT_LOADABLE",
} as const;
export type JobTemplateErrorCode = (typeof JobTemplateErrorCode)[keyof typeof JobTemplateErrorCode];
