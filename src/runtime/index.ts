/** Public API of the runtime area: participants, the admin session, jobs, simulator and POC. */
// Every runtime error catalogue, one errors.ts per concern folder.
export { RuntimeErrorCode } from "./jobs/errors.js";
export { ConfinementErrorCode } from "./sandbox/errors.js";
export { SiteSecurityErrorCode } from "./site/errors.js";
export { AdminErrorCode } from "./admin/errors.js";
export { PluginErrorCode } from "./participant/errors.js";
export { PeerErrorCode } from "./peer/errors.js";
export { WorkflowErrorCode, TrainerErrorCode } from "./components/errors.js";
export { ClientApiErrorCode } from "./client-api/errors.js";
export { SimulatorErrorCode } from "./simulator/errors.js";
export { PocErrorCode } from "./poc/errors.js";
export * from "./participant/index.js";
export * from "./admin/index.js";
export * from "./jobs/index.js";
export { buildServerJob, buildSiteJob } from "./sandbox/job-host.js";
export type { JobHostInit, JobHostIo, ServerJobIo, SiteJobIo, ServerJobHost, SiteJobHost } from "./sandbox/job-host.js";
export type { PeerMessenger } from "./peer/inbox.js";
export { runSimulation, siteNames, defaultSimulatorWorkspace } from "./simulator/index.js";
export type { SimulationOptions, SimulationResult, SimulatedRound } from "./simulator/index.js";
export { preparePoc, startPoc, stopPoc, cleanPoc, openPoc, defaultPocWorkspace } from "./poc/index.js";
export type { PreparedPoc, StartedPoc, PocProgress, StoppedProcess } from "./poc/index.js";
