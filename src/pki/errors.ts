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
