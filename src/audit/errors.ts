/** Stable error codes of the audit area (switch on these, never on messages). */
export const AuditErrorCode = {
  /** A log or witness file could not be read. */
  LogUnreadable: "ERR_AUDIT_LOG_UNREADABLE",
  /** The witness log given is the verified site's own log. */
  WitnessInvalid: "ERR_AUDIT_WITNESS_INVALID",
  /** A checkpoint is not of the documented shape (docs/audit.md, "Checkpoints"). */
  CheckpointInvalid: "ERR_AUDIT_CHECKPOINT_INVALID",
  /** The checkpoint's certificate does not chain to the project root (or is not valid at that time). */
  CheckpointCert: "ERR_AUDIT_CHECKPOINT_CERT",
  /** The certificate's CN is not the checkpoint's site, or the site is not the expected peer. */
  CheckpointSigner: "ERR_AUDIT_CHECKPOINT_SIGNER",
  /** The signature does not cover these site/seq/hash/time values. */
  CheckpointSignature: "ERR_AUDIT_CHECKPOINT_SIGNATURE",
  /** The log's last line is torn, so its head cannot be checkpointed until the log is reopened. */
  CheckpointTorn: "ERR_AUDIT_CHECKPOINT_TORN",
  /** A checkpoint from a session that may not give one (only sites to the server, the server to a site). */
  CheckpointNotAllowed: "ERR_AUDIT_CHECKPOINT_NOT_ALLOWED",
  /** A second checkpoint from the same peer within half the checkpoint interval. */
  CheckpointRate: "ERR_AUDIT_CHECKPOINT_RATE",
  /** A checkpoint that does not cover more lines than the peer's last witnessed one. */
  CheckpointStale: "ERR_AUDIT_CHECKPOINT_STALE",
  /** Signature checks were asked for but the signer's certificate is not at hand. */
  CertNotFound: "ERR_AUDIT_CERT_NOT_FOUND",
  /** `traceEvent` found neither the event nor anything referencing it. */
  TraceNotFound: "ERR_AUDIT_TRACE_NOT_FOUND",
} as const;
export type AuditErrorCode = (typeof AuditErrorCode)[keyof typeof AuditErrorCode];
