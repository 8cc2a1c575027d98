/** Public API of the runtime area (grows with the FL runtime): running a participant from its kit. */
export { startParticipant } from "./participant/start.js";
export type { StartParticipantOptions, RunningParticipant } from "./participant/start.js";
export { AdminSession } from "./admin/session.js";
export { splitCommandLine } from "./admin/command-line.js";
export { JobStore, JOB_STATUSES } from "./jobs/store.js";
export type { StoredJobMeta, JobStatus } from "./jobs/store.js";
export { loadJobFolder } from "./jobs/definition.js";
export type { JobDefinition, JobMeta } from "./jobs/definition.js";
export { ADMIN_COMMANDS, CONSOLE_COMMANDS, nearestCommand } from "./admin/commands.js";
export type { AdminCommandInfo } from "./admin/commands.js";
export { buildServerJob, buildSiteJob } from "./sandbox/job-host.js";
export type { JobHostInit, JobHostIo, ServerJobIo, SiteJobIo, ServerJobHost, SiteJobHost } from "./sandbox/job-host.js";
export type { PeerMessenger } from "./peer/inbox.js";
export { runSimulation, siteNames, defaultSimulatorWorkspace } from "./simulator/index.js";
export type { SimulationOptions, SimulationResult, SimulatedRound } from "./simulator/index.js";
export { preparePoc, startPoc, stopPoc, cleanPoc, openPoc, defaultPocWorkspace } from "./poc/index.js";
export type { PreparedPoc, StartedPoc, PocProgress, StoppedProcess } from "./poc/index.js";
