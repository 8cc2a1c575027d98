/** Error codes of runtime/site/ (A site's own checks); callers switch on `err.code`, never on messages. */

/** A site's own checks at deployment. */
export const SiteSecurityErrorCode = {
  NotAuthorized: "ERR_NOT_AUTHORIZED",
  UnsafeComponent: "ERR_JOB_UNSAFE_COMPONENT",
} as const;
export type SiteSecurityErrorCode = (typeof SiteSecurityErrorCode)[keyof typeof SiteSecurityErrorCode];
