/** POC mode (`cohort poc prepare|start|stop|clean`): a real secure project on this machine. */
export {
  preparePoc,
  startPoc,
  stopPoc,
  cleanPoc,
  openPoc,
  pocProcesses,
  gpuAssignments,
  selectParticipants,
  POC_ADMIN,
  POC_PROJECT,
  POC_SERVER,
} from "./poc.js";
export type { PreparePocOptions, PreparedPoc, StartPocOptions, StartedPoc, StopPocOptions, StoppedProcess, PocProgress } from "./poc.js";
export { PocErrorCode } from "./errors.js";
export { defaultPocWorkspace } from "./workspace.js";
export type { PocDescription, PocProcessRecord } from "./workspace.js";
export { portRefuses } from "./processes.js";
