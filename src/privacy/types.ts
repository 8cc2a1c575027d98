import type { FLModel } from "../wire/index.js";
import type { SerializedCkksContext } from "./he-context.js";

/** What a filter spends, charged to the site's privacy budget before its output exists. */
export interface PrivacySpend {
  readonly filter: string;
  readonly epsilon: number;
  readonly delta: number;
}

export type FilterDirection = "in" | "out";

export interface FilterContext {
  readonly site: string;
  readonly jobId: string;
  readonly taskName: string;
  /** "in": task data arriving (site) / results arriving (server); "out": the reverse. */
  readonly direction: FilterDirection;
  /**
   * The task data this result answers (after the data filters), when known: DP filters on FULL
   * weights work on the update (result − reference), as FLARE's do on WEIGHT_DIFF.
   */
  readonly reference?: FLModel;
  /** Charges a DP spend to the site's budget; rejects (and the task fails) when refused. */
  charge(spend: PrivacySpend): Promise<void>;
  log(line: string): void;
  /** The site's CKKS client context (with its secret key), for the HE filters. */
  readonly ckks?: SerializedCkksContext;
}

/** A filter component: FLModel in, FLModel out (typed arrays). Throwing stops the task. */
export interface ModelFilter {
  filter(model: FLModel, ctx: FilterContext): FLModel | Promise<FLModel>;
}

export const PrivacyErrorCode = {
  Policy: "ERR_PRIVACY_POLICY",
  Scope: "ERR_PRIVACY_SCOPE",
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
} as const;
