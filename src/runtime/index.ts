/** Public API of the runtime area: participants, the admin session, jobs, simulator and POC. */
export * from "./errors.js";
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
