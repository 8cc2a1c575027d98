/** Stable error codes of the pki area. */
export const PkiErrorCode = {
  UnsupportedKeyAlgorithm: "ERR_PKI_UNSUPPORTED_KEY_ALGORITHM",
  CertNotIssuedByRoot: "ERR_CERT_NOT_ISSUED_BY_ROOT",
  CertExpired: "ERR_CERT_EXPIRED",
  CertNotYetValid: "ERR_CERT_NOT_YET_VALID",
  CertInvalid: "ERR_CERT_INVALID",
  RootNotCA: "ERR_ROOT_NOT_CA",
  KeyPassphraseRequired: "ERR_KEY_PASSPHRASE_REQUIRED",
  KeyPassphraseWrong: "ERR_KEY_PASSPHRASE_WRONG",
  BadFingerprint: "ERR_BAD_FINGERPRINT",
} as const;

/** Signed jobs (job-signature.ts, job-manifest.ts; docs/protocol.md §5). */
export const JobSignatureErrorCode = {
  Unsigned: "ERR_JOB_UNSIGNED",
  Tampered: "ERR_JOB_TAMPERED",
  BadSigner: "ERR_JOB_BAD_SIGNER",
  /** The manifest file is malformed, not canonical, or names another job. */
  BadManifest: "ERR_JOB_BAD_MANIFEST",
  /** A site saw this manifest's nonce under another job id. */
  Replayed: "ERR_JOB_REPLAYED",
  /** At first deployment the manifest is older than the site's job_manifest_max_age_days. */
  Expired: "ERR_JOB_MANIFEST_EXPIRED",
} as const;

/** Startup kits (kit.ts): `cohort kit verify` and the check at `cohort start`. */
export const KitErrorCode = {
  NotAKit: "ERR_KIT_NOT_FOUND",
  Unsigned: "ERR_KIT_UNSIGNED",
  Tampered: "ERR_KIT_TAMPERED",
  RootMismatch: "ERR_KIT_ROOT_MISMATCH",
  KeyMismatch: "ERR_KIT_KEY_MISMATCH",
  KeyPermissions: "ERR_KIT_KEY_PERMISSIONS",
} as const;
