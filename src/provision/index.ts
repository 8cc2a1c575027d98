/** Public API of the provision area: project.yml → root CA, certificates, signed startup kits. */
export { provision } from "./provisioner.js";
export type { ProvisionOptions, ProvisionResult, ProvisionedKit } from "./provisioner.js";
export { ProvisionErrorCode } from "./errors.js";
export { DEFAULT_AUTHORIZATION } from "./templates/local-files.js";
