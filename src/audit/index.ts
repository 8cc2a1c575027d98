/** Public API of the audit area: the hash-chained site audit log. */
export { AuditLog, GENESIS_HASH, lineHash } from "./audit-log.js";
export type { AuditEventInput, AuditRecord, AuditOutcome } from "./audit-log.js";
export { verifyAuditLog } from "./verify.js";
export type { AuditVerification } from "./verify.js";
export { RefusalAuditor } from "./refusal-limiter.js";
export type { VerifyAuditLogOptions } from "./verify.js";
export { createCheckpoint, verifyCheckpoint, recordWitness, checkpointBytes, WITNESS_ACTION } from "./checkpoint.js";
export type { Checkpoint, CheckpointSigner, VerifyCheckpointOptions, WitnessReason } from "./checkpoint.js";
export { traceEvent } from "./trace.js";
export type { TraceStep } from "./trace.js";
export { AuditErrorCode } from "./errors.js";
