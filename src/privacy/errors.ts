/** Every error code of the privacy area; callers switch on `err.code`, never on messages. */

/** Filters, scopes, budgets. */
export const PrivacyErrorCode = {
  Policy: "ERR_PRIVACY_POLICY",
  Scope: "ERR_PRIVACY_SCOPE",
  /** A scope of the site's policy names a filter Cohort does not implement: jobs of that scope are refused. */
  ScopeUnavailable: "ERR_PRIVACY_SCOPE_UNAVAILABLE",
  Filter: "ERR_PRIVACY_FILTER",
  Budget: "ERR_PRIVACY_BUDGET",
  Ledger: "ERR_PRIVACY_LEDGER",
} as const;

/** The homomorphic-encryption codes of the privacy area. */
export const HeErrorCode = {
  /** A context file or message that does not validate. */
  Context: "ERR_PRIVACY_HE_CONTEXT",
  /** A secret key where only public parameters may be (the server). */
  SecretAtServer: "ERR_PRIVACY_HE_SECRET_AT_SERVER",
  /** Decrypting or encrypting with a context that has no secret key. */
  NoSecretKey: "ERR_PRIVACY_HE_NO_SECRET_KEY",
  /** The site's HE worker thread crashed, exited or was closed while a call was pending (he-worker.ts). */
  Worker: "ERR_PRIVACY_HE_WORKER",
  /** An HE worker call ran past its time limit: the worker was ended (it restarts on the next call). */
  Timeout: "ERR_PRIVACY_HE_TIMEOUT",
  /** What was given to the HE worker is not an encoded FLModel. */
  Input: "ERR_PRIVACY_HE_INPUT",
  /** The HE aggregator refused an encrypted update (layer names or sizes differ from the others). */
  Update: "ERR_AGGREGATOR_UPDATE",
} as const;
export type PrivacyErrorCode = (typeof PrivacyErrorCode)[keyof typeof PrivacyErrorCode];
export type HeErrorCode = (typeof HeErrorCode)[keyof typeof HeErrorCode];
