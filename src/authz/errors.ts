import { CohortError } from "../errors/index.js";
import { formatIssue, type ConfigIssue } from "../config/index.js";

export const AuthzErrorCode = {
  /** authorization.json is not FLARE's format: the site must not start with it. */
  PolicyInvalid: "ERR_AUTHZ_POLICY_INVALID",
  /** `cohort authz explain` without what it needs. */
  Usage: "ERR_AUTHZ_USAGE",
} as const;

/** One error for every problem found, so an admin fixes the file in one pass. */
export function policyInvalid(file: string, issues: readonly ConfigIssue[]): CohortError {
  const first = issues[0];
  const message =
    issues.length === 1 && first ? formatIssue(first) : `${issues.length} problems in ${file}:\n${issues.map((i) => `  - ${formatIssue(i)}`).join("\n")}`;
  return new CohortError(AuthzErrorCode.PolicyInvalid, message, { file, issues, field: first?.field, value: first?.value });
}
