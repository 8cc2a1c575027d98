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
