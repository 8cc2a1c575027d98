/** Error codes of runtime/participant/ (Participant processes: site plugins); callers switch on `err.code`, never on messages. */

/** Site plugins (local/resources.json `plugins`). */
export const PluginErrorCode = { Config: "ERR_PLUGIN_CONFIG" } as const;
export type PluginErrorCode = (typeof PluginErrorCode)[keyof typeof PluginErrorCode];

/** A participant's local/ policy files (authorization.json, privacy.json, resources.json). */
export const PolicyFilesErrorCode = {
  /** One or more of the files cannot be used at all (syntax, shape): the participant exits with status 4. */
  Invalid: "ERR_SITE_POLICY_FILES",
} as const;
export type PolicyFilesErrorCode = (typeof PolicyFilesErrorCode)[keyof typeof PolicyFilesErrorCode];
