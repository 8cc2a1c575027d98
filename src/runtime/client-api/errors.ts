/** Error codes of runtime/client-api/ (FLARE's Client API); callers switch on `err.code`, never on messages. */

/** FLARE's Client API between a site's executor and a training script. */
export const ClientApiErrorCode = {
  Protocol: "ERR_CLIENT_API_PROTOCOL",
  Exited: "ERR_CLIENT_API_EXITED",
  Timeout: "ERR_CLIENT_API_TIMEOUT",
  ScriptError: "ERR_CLIENT_API_SCRIPT_ERROR",
  BadResult: "ERR_CLIENT_API_BAD_RESULT",
  Shape: "ERR_CLIENT_API_SHAPE",
  Config: "ERR_CLIENT_API_CONFIG",
  Stopped: "ERR_CLIENT_API_STOPPED",
} as const;
export type ClientApiErrorCode = (typeof ClientApiErrorCode)[keyof typeof ClientApiErrorCode];
