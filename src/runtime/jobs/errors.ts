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
} as const;
export type RuntimeErrorCode = (typeof RuntimeErrorCode)[keyof typeof RuntimeErrorCode];
