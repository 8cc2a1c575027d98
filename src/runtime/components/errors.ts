/** Error codes of runtime/components/ (Built-in workflows and trainers); callers switch on `err.code`, never on messages. */

/** Workflows (server side of a job). */
export const WorkflowErrorCode = {
  Config: "ERR_WORKFLOW_CONFIG",
  BadTask: "ERR_WORKFLOW_BAD_TASK",
  BadResult: "ERR_WORKFLOW_BAD_RESULT",
  TooFewResults: "ERR_WORKFLOW_TOO_FEW_RESULTS",
  /** A persistor's model (initial value or saved file) is not one Cohort can use. */
  BadModel: "ERR_WORKFLOW_BAD_MODEL",
} as const;
export type WorkflowErrorCode = (typeof WorkflowErrorCode)[keyof typeof WorkflowErrorCode];

/** Built-in trainers (executors). */
export const TrainerErrorCode = {
  Task: "ERR_TRAINER_TASK",
  Site: "ERR_TRAINER_SITE",
  NoModel: "ERR_TRAINER_NO_MODEL",
} as const;
export type TrainerErrorCode = (typeof TrainerErrorCode)[keyof typeof TrainerErrorCode];
