export const ProvisionErrorCode = {
  WorkspaceFull: "ERR_PROVISION_WORKSPACE_FULL",
  StateConflict: "ERR_PROVISION_STATE_CONFLICT",
  StateCorrupt: "ERR_PROVISION_STATE_CORRUPT",
  RootExpired: "ERR_PROVISION_ROOT_EXPIRED",
  IdentityChanged: "ERR_PROVISION_IDENTITY_CHANGED",
  BuildFailed: "ERR_PROVISION_BUILD_FAILED",
} as const;
