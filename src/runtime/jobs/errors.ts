/** Error codes of runtime/jobs/ (Job definitions, deployment, the job process, results); callers switch on `err.code`, never on messages. */

/** Jobs: definitions, deployment, the job process, results. */
export const RuntimeErrorCode = {
  BadJob: "ERR_JOB_INVALID",
  UnknownComponent: "ERR_JOB_UNKNOWN_COMPONENT",
  JobNotFound: "ERR_JOB_NOT_FOUND",
  JobState: "ERR_JOB_STATE",
  Deploy: "ERR_JOB_DEPLOY",
  Child: "ERR_JOB_CHILD",
  Resources: "ERR_JOB_RESOURCES",
  PeerRelay: "ERR_JOB_PEER_RELAY",
  PeerRefused: "ERR_JOB_PEER_REFUSED",
  /** Job code answered a task it was not given, or twice. */
  UnexpectedMessage: "ERR_JOB_UNEXPECTED_MESSAGE",
  /** A result the site will not send: wrong names or sizes, oversized meta, not the control answer. */
  ResultRefused: "ERR_JOB_RESULT_REFUSED",
  OutputLimit: "ERR_JOB_OUTPUT_LIMIT",
  MetricsBounded: "ERR_JOB_METRICS_BOUNDED",
  /** The job was aborted (abort_job, or the job ended) while this waited. */
  Aborted: "ERR_JOB_ABORTED",
  /** A task reached a site job with no executor for it. */
  NoExecutor: "ERR_JOB_NO_EXECUTOR",
  /** A site's executor (or its script) failed a task. */
  TaskFailed: "ERR_JOB_TASK_FAILED",
  /** A job's .conf file (HOCON) is not in the subset Cohort reads: a syntax error, `+=`, or a refused construct. */
  ConfigSyntax: "ERR_JOB_CONFIG_SYNTAX",
  /** A job's .conf file has an `include`: a job's config must not read other files. */
  ConfigInclude: "ERR_JOB_CONFIG_INCLUDE",
  /** A `${path}` substitution is not defined in the same file, or is part of a cycle. */
  ConfigSubstitution: "ERR_JOB_CONFIG_SUBSTITUTION",
  /** A job's config or meta file is too large, too deeply nested, or expands past the bound. */
  ConfigLimit: "ERR_JOB_CONFIG_LIMIT",
  /** The same task name (or overlapping patterns) routed to two executors or two filter chains. */
  TaskRouting: "ERR_JOB_TASK_ROUTING",
  /** A component path names Python code in the app's custom/ folder: run Python through the Client API. */
  PythonComponent: "ERR_JOB_PYTHON_COMPONENT",
} as const;
export type RuntimeErrorCode = (typeof RuntimeErrorCode)[keyof typeof RuntimeErrorCode];
