/** `cohort start`: one participant process (server or site) from its kit. */
export { startParticipant, type StartParticipantOptions, type RunningParticipant } from "./start.js";
export { PolicyFilesErrorCode } from "./errors.js";
