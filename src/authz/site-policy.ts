import { readFileSync } from "node:fs";
import { CohortError } from "../errors/index.js";
import { localConfigPath } from "../config/index.js";
import { AuthzErrorCode } from "./errors.js";
import { parsePolicy, type AuthorizationPolicy } from "./policy.js";

export interface LoadedPolicy {
  readonly policy: AuthorizationPolicy;
  readonly file: string;
  /** `<JSON path>: <what>` lines for things that are valid but probably not meant. */
  readonly warnings: readonly string[];
}

/** Reads and validates one authorization.json; ERR_AUTHZ_POLICY_INVALID when unreadable or malformed. */
export function loadPolicyFile(file: string): LoadedPolicy {
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(file, "utf8"));
  } catch (err) {
    const what =
      err instanceof SyntaxError
        ? `not valid JSON: ${err.message}; fix the syntax (or start again from local/authorization.json.default)`
        : `cannot be read: ${(err as Error).message}; check the path and the file's permissions`;
    throw new CohortError(AuthzErrorCode.PolicyInvalid, `${file}: ${what}`, { file }, { cause: err });
  }
  const policy = parsePolicy(raw, file);
  return { policy, file, warnings: policy.warnings };
}

/**
 * A site's policy, as FLARE finds it: `local/authorization.json`, else
 * `local/authorization.json.default`; undefined when the kit has neither.
 */
export function loadSitePolicy(kitDir: string): LoadedPolicy | undefined {
  const file = localConfigPath(kitDir, "authorization");
  return file === undefined ? undefined : loadPolicyFile(file);
}
