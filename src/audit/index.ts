/** Public API of the audit area: the hash-chained site audit log. */
export { AuditLog, GENESIS_HASH, lineHash } from "./audit-log.js";
export type { AuditEventInput, AuditRecord, AuditOutcome } from "./audit-log.js";
export { verifyAuditLog } from "./verify.js";
export type { AuditVerification } from "./verify.js";
export { RefusalAuditor } from "./refusal-limiter.js";
