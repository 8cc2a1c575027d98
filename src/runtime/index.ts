/** Public API of the runtime area (grows with the FL runtime): running a participant from its kit. */
export { startParticipant } from "./participant.js";
export type { StartParticipantOptions, RunningParticipant } from "./participant.js";
