/** Public API of federated authorization: FLARE's authorization.json, categories and decisions. */
export { COMMAND_CATEGORIES, CATEGORY_NAMES, SPECIAL_RIGHTS, OTHER_KNOWN_COMMANDS, KNOWN_RIGHTS, categoryOf, isCategory } from "./categories.js";
export type { CommandCategory, SpecialRight } from "./categories.js";
export { parseCondition, evaluateCondition, normalizeName } from "./conditions.js";
export type { Condition, ConditionTest, ConditionParse, ConditionContext, ConditionOutcome, Person } from "./conditions.js";
export { parsePolicy, jsonPath, POLICY_FORMAT_VERSION } from "./policy.js";
export type { AuthorizationPolicy, RolePermissions, PolicyRule } from "./policy.js";
export { authorize } from "./evaluate.js";
export type { AuthzRequest, AuthzIdentity, AuthzDecision, AuthzRuleRef } from "./evaluate.js";
export { loadSitePolicy, loadPolicyFile } from "./site-policy.js";
export { byocGrantsBeyondOrg } from "./byoc.js";
export type { LoadedPolicy } from "./site-policy.js";
export { AuthzErrorCode } from "./errors.js";
