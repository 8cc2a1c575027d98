/** Public API of the runtime area (grows with the FL runtime): running a participant from its kit. */
export { startParticipant } from "./participant.js";
export type { StartParticipantOptions, RunningParticipant } from "./participant.js";
export { AdminSession } from "./admin-session.js";
export { splitCommandLine } from "./command-line.js";
export { JobStore, JOB_STATUSES } from "./job-store.js";
export type { StoredJobMeta, JobStatus } from "./job-store.js";
export { loadJobFolder } from "./job-def.js";
export type { JobDefinition, JobMeta } from "./job-def.js";
export { ADMIN_COMMANDS, CONSOLE_COMMANDS, nearestCommand } from "./admin-commands.js";
export type { AdminCommandInfo } from "./admin-commands.js";
export { buildServerJob, buildSiteJob } from "./job-host.js";
export type { JobHostInit, JobHostIo, ServerJobIo, SiteJobIo, ServerJobHost, SiteJobHost } from "./job-host.js";
export type { PeerMessenger } from "./peer-inbox.js";
export { runSimulation, siteNames, defaultSimulatorWorkspace } from "./simulator/index.js";
export type { SimulationOptions, SimulationResult, SimulatedRound } from "./simulator/index.js";
export { preparePoc, startPoc, stopPoc, cleanPoc, openPoc, defaultPocWorkspace } from "./poc/index.js";
export type { PreparedPoc, StartedPoc, PocProgress, StoppedProcess } from "./poc/index.js";
