/**
 * Every error code the runtime throws, by concern; callers switch on `err.code`, never on
 * messages. (The demo's ML has its own in learn/errors.ts.)
 */

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

/** The job process could not be confined and the site does not allow unconfined jobs. */
export const ConfinementErrorCode = { Unconfined: "ERR_JOB_UNCONFINED" } as const;
export type ConfinementErrorCode = (typeof ConfinementErrorCode)[keyof typeof ConfinementErrorCode];

/** A site's own checks at deployment. */
export const SiteSecurityErrorCode = {
  NotAuthorized: "ERR_NOT_AUTHORIZED",
  UnsafeComponent: "ERR_JOB_UNSAFE_COMPONENT",
} as const;
export type SiteSecurityErrorCode = (typeof SiteSecurityErrorCode)[keyof typeof SiteSecurityErrorCode];

/** Admin commands (console, server and site sides). */
export const AdminErrorCode = {
  Usage: "ERR_ADMIN_USAGE",
  UnknownCommand: "ERR_ADMIN_UNKNOWN_COMMAND",
  /** A command the server or a site could not carry out. */
  Failed: "ERR_ADMIN_FAILED",
  /** A command signed by, or sent on a session of, someone who is not an admin. */
  NotAdmin: "ERR_ADMIN_NOT_ADMIN",
  NoSites: "ERR_ADMIN_NO_SITES",
  /** A file command's path outside the site folder, a link, or a startup/ file. */
  Path: "ERR_ADMIN_PATH",
  Download: "ERR_ADMIN_DOWNLOAD",
} as const;
export type AdminErrorCode = (typeof AdminErrorCode)[keyof typeof AdminErrorCode];

/** Site plugins (local/resources.json `plugins`). */
export const PluginErrorCode = { Config: "ERR_PLUGIN_CONFIG" } as const;
export type PluginErrorCode = (typeof PluginErrorCode)[keyof typeof PluginErrorCode];

/** Sealed messages between the sites of a job. */
export const PeerErrorCode = {
  Topic: "ERR_PEER_TOPIC",
  NotAPeer: "ERR_PEER_NOT_IN_JOB",
  InboxFull: "ERR_PEER_INBOX_FULL",
  Timeout: "ERR_PEER_TIMEOUT",
  Unavailable: "ERR_PEER_UNAVAILABLE",
  Send: "ERR_PEER_SEND",
  Delivery: "ERR_PEER_DELIVERY",
} as const;
export type PeerErrorCode = (typeof PeerErrorCode)[keyof typeof PeerErrorCode];

/** Workflows (server side of a job). */
export const WorkflowErrorCode = {
  Config: "ERR_WORKFLOW_CONFIG",
  BadTask: "ERR_WORKFLOW_BAD_TASK",
  BadResult: "ERR_WORKFLOW_BAD_RESULT",
  TooFewResults: "ERR_WORKFLOW_TOO_FEW_RESULTS",
} as const;
export type WorkflowErrorCode = (typeof WorkflowErrorCode)[keyof typeof WorkflowErrorCode];

/** Built-in trainers (executors). */
export const TrainerErrorCode = {
  Task: "ERR_TRAINER_TASK",
  Site: "ERR_TRAINER_SITE",
  NoModel: "ERR_TRAINER_NO_MODEL",
} as const;
export type TrainerErrorCode = (typeof TrainerErrorCode)[keyof typeof TrainerErrorCode];

/** FLARE's Client API between a site's executor and a training script. */
export const ClientApiErrorCode = {
  Protocol: "ERR_CLIENT_API_PROTOCOL",
  Exited: "ERR_CLIENT_API_EXITED",
  Timeout: "ERR_CLIENT_API_TIMEOUT",
  ScriptError: "ERR_CLIENT_API_SCRIPT_ERROR",
  BadResult: "ERR_CLIENT_API_BAD_RESULT",
  Shape: "ERR_CLIENT_API_SHAPE",
  Config: "ERR_CLIENT_API_CONFIG",
  Stopped: "ERR_CLIENT_API_STOPPED",
} as const;
export type ClientApiErrorCode = (typeof ClientApiErrorCode)[keyof typeof ClientApiErrorCode];

/** `cohort simulator`. */
export const SimulatorErrorCode = {
  Usage: "ERR_SIM_USAGE",
  Workspace: "ERR_SIM_WORKSPACE",
} as const;
export type SimulatorErrorCode = (typeof SimulatorErrorCode)[keyof typeof SimulatorErrorCode];

/** `cohort poc`. */
export const PocErrorCode = {
  Usage: "ERR_POC_USAGE",
  Workspace: "ERR_POC_WORKSPACE",
  NotPrepared: "ERR_POC_NOT_PREPARED",
  Start: "ERR_POC_START",
  Stop: "ERR_POC_STOP",
} as const;
export type PocErrorCode = (typeof PocErrorCode)[keyof typeof PocErrorCode];
