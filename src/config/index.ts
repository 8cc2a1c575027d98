/** Public API of the config area: FLARE-format project.yml loading and validation. */
export {
  loadProjectFile,
  validateProject,
  suggest,
  closest,
  CONNECTION_SECURITY,
  ADMIN_ROLES,
  DEFAULT_FED_LEARN_PORT,
  DEFAULT_CONNECTION_SECURITY,
  SERVER_CN_MAX,
  PROJECT_NAME_MAX,
} from "./project.js";
export type {
  ProjectSpec,
  ParticipantSpec,
  ServerSpec,
  ClientSpec,
  AdminSpec,
  ConnectTo,
  ConnectionSecurity,
  LoadedProject,
  LoadProjectOptions,
} from "./project.js";
export { BUILDER_PATHS, NOT_YET_BUILDERS, DEFAULT_BUILDERS, SCHEMES, CERT_KEY_ALGORITHMS } from "./builders.js";
export type { BuilderSpec, BuilderKind, Scheme, CertKeyAlgorithm } from "./builders.js";
export { PROJECT_KEYS, PARTICIPANT_KEYS, OTHER_PARTICIPANT_TYPES } from "./project-keys.js";
export type { KeyAnswer, ParticipantType } from "./project-keys.js";
export { ConfigErrorCode, formatIssue } from "./errors.js";
export type { ConfigIssue } from "./errors.js";
export { loadYamlWithIncludes, parseYamlFile } from "./yaml-file.js";
export { checkName } from "./names.js";
export type { NameKind } from "./names.js";
export {
  loadKitConfig,
  splitTarget,
  localConfigPath,
  readLocalJson,
  fedServerSchema,
  fedClientSchema,
  fedAdminSchema,
  serverResourcesSchema,
} from "./kit-config.js";
export type { KitConfig, FedServerConfig, FedClientConfig, FedAdminConfig, ServerSettings } from "./kit-config.js";
export { DEFAULT_SERVER_SETTINGS } from "./kit-config.js";
export { readJsonFile } from "./json-file.js";
