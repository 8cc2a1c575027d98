/** Cohort's Client API: the in-process TypeScript API, the external-process channel, and their types. */
export type { ClientApi, ClientApiSystemInfo, TrainingFunction, TaskKind, FLModel, FLModelInit, ParamsType } from "./types.js";
export { ClientApiErrorCode } from "./errors.js";
export { CHANNEL_VERSION, FrameReader, frameParts, parseFromScript, fromScriptSchema, type FromScript, type ToScript } from "./channel.js";
export { conformResult, withLoggedMetrics } from "./conform.js";
