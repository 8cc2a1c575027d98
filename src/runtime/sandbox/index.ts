export { findSandboxTools, gpuDeviceNodes, sandboxCommand, sandboxMounts, type SandboxMounts, type SandboxSpec, type SandboxTools } from "./bwrap.js";
export { ConfinementErrorCode } from "./errors.js";
export {
  checkConfinementFor,
  confinementResourcesSchema,
  describeConfinement,
  jobConfinement,
  type ConfinementResources,
  type JobConfinement,
} from "./confinement.js";
export { DEFAULT_JOB_LIMITS, heapLimitMb, jobLimitsSchema, prlimitArgs, type JobLimits } from "./limits.js";
export {
  eachLine,
  escapeControl,
  MAX_JOB_LINE_BYTES,
  MAX_JOB_OUTPUT_BYTES,
  OutputRelay,
  outputLimitAuditor,
  type EachLineOptions,
  type OutputRelayOptions,
} from "./output.js";
export { userNamespaceSeccompProgram } from "./seccomp.js";
export { chownTree, grantReadTree } from "./files.js";
export { closeInheritedDescriptors } from "./descriptors.js";
