/** Error codes of runtime/participant/ (Participant processes: site plugins); callers switch on `err.code`, never on messages. */

/** Site plugins (local/resources.json `plugins`). */
export const PluginErrorCode = { Config: "ERR_PLUGIN_CONFIG" } as const;
export type PluginErrorCode = (typeof PluginErrorCode)[keyof typeof PluginErrorCode];
