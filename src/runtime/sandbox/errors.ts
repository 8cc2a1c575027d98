/** Error codes of runtime/sandbox/ (Confinement of job code); callers switch on `err.code`, never on messages. */

/** The job process could not be confined and the site does not allow unconfined jobs. */
export const ConfinementErrorCode = { Unconfined: "ERR_JOB_UNCONFINED" } as const;
export type ConfinementErrorCode = (typeof ConfinementErrorCode)[keyof typeof ConfinementErrorCode];
