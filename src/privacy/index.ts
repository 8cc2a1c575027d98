/** Public API of the privacy area: filters, site scopes (privacy.json), the budget ledger. */
export { SecureRandom, secureRandom } from "./noise.js";
export type { FilterContext, FilterDirection, ModelFilter, PrivacySpend } from "./types.js";
export { PrivacyErrorCode, HeErrorCode } from "./errors.js";
export {
  BUILTIN_FILTERS,
  ExcludeVars,
  GaussianPrivacy,
  PercentilePrivacy,
  SVTPrivacy,
  excludeVarsArgs,
  gaussianArgs,
  gaussianSigma,
  parseFilterArgs,
  percentileArgs,
  percentileOf,
  svtArgs,
  svtBudget,
  updateOf,
} from "./filters.js";
export {
  budgetSchema,
  filterSpecSchema,
  loadPrivacyPolicy,
  parsePrivacyPolicy,
  privacyPolicyProblems,
  privacyPolicySchema,
  PRIVACY_POLICY_MAX_BYTES,
  readPolicyJson,
  resolveScope,
  scopeSchema,
  unavailableReason,
  type FilterSpec,
  type PrivacyBudget,
  type PrivacyPolicy,
  type PrivacyScope,
} from "./policy.js";
export { PrivacyLedger, type ChargeOutcome } from "./ledger.js";
export { applyFilterChain, siteFilterSpecs, type ChainedFilter } from "./pipeline.js";
export { SitePrivacy, type SitePrivacyOptions } from "./site.js";
export {
  assertNoSecretKey,
  ckksContextSchema,
  CLIENT_CONTEXT_FILE,
  DEFAULT_CKKS_OPTIONS,
  FLARE_CLIENT_CONTEXT_FILE,
  FLARE_SERVER_CONTEXT_FILE,
  kitContextFile,
  generateCkksContexts,
  publicContext,
  readCkksContextFile,
  SERVER_CONTEXT_FILE,
  type CkksOptions,
  type SerializedCkksContext,
} from "./he-context.js";
export { HE_COMPONENTS, HE_FILTER_PATHS, HEAggregator, heAggregatorArgs, HEModelDecryptor, HEModelEncryptor, heEncryptorArgs } from "./he-filters.js";
export {
  heFilterKind,
  isHeFilterPath,
  startHeFilterWorker,
  type HeApplyOptions,
  type HeCallContext,
  type HeFilterKind,
  type HeFilterRunner,
  type HeFilterSpec,
  type HeFilterWorkerOptions,
} from "./he-worker.js";
