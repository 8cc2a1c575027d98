/** The in-process simulator (`cohort simulator`): the server and every site of a job in one process. */
export { SimulatorErrorCode } from "./errors.js";
export { runSimulation, siteNames, checkSiteNames } from "./simulate.js";
export type { SimulationOptions, SimulationResult, SimulatedRound, LogLevel } from "./simulate.js";
export { defaultSimulatorWorkspace, SIMULATOR_MARK } from "./workspace.js";
export { readLocalConfigs, readSiteLocalConfig } from "./local-config.js";
export type { SiteLocalConfig } from "./local-config.js";
