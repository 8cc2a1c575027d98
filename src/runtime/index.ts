/** Public API of the runtime area (grows with the FL runtime): running a participant from its kit. */
export { startParticipant } from "./participant.js";
export type { StartParticipantOptions, RunningParticipant } from "./participant.js";
export { AdminSession, splitCommandLine } from "./admin-session.js";
export { JobStore, JOB_STATUSES } from "./job-store.js";
export type { StoredJobMeta, JobStatus } from "./job-store.js";
export { loadJobFolder } from "./job-def.js";
export type { JobDefinition, JobMeta } from "./job-def.js";
export { ADMIN_COMMANDS, CONSOLE_COMMANDS, nearestCommand } from "./admin-commands.js";
export type { AdminCommandInfo } from "./admin-commands.js";
