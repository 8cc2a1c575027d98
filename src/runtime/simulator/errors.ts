/** Error codes of runtime/simulator/ (`cohort simulator`); callers switch on `err.code`, never on messages. */

/** `cohort simulator`. */
export const SimulatorErrorCode = {
  Usage: "ERR_SIM_USAGE",
  Workspace: "ERR_SIM_WORKSPACE",
} as const;
export type SimulatorErrorCode = (typeof SimulatorErrorCode)[keyof typeof SimulatorErrorCode];
