import { z } from "zod";
import { CohortError, isCohortError } from "../../errors/index.js";
import { AggregationErrorCode, DATA_KIND_PARAMS_TYPE, WeightedAggregator, type Params, type ParamsType } from "../aggregation/index.js";

export const aggregatorArgs = z.object({
  /** Updates validated and staged at once before folding (K); peak memory ≈ (K + 2) updates. */
  max_staged: z.number().int().min(1).max(64).default(2),
  /** Optional bound on the L2 norm of an update's change from the global model. */
  norm_bound: z.number().positive().optional(),
  /**
   * FLARE's DataKind the aggregator takes: WEIGHTS (FULL models) or WEIGHT_DIFF (DIFFs); an update
   * of the other kind is refused. Unset: the round's first update decides (FLARE's FedAvg).
   */
  expected_data_kind: z.enum(["WEIGHTS", "WEIGHT_DIFF"]).optional(),
  // FLARE's InTimeAccumulateWeightedAggregator arguments, accepted for compatibility.
  exclude_vars: z.unknown().optional(),
  aggregation_weights: z.record(z.string(), z.number()).optional(),
  weigh_by_local_iter: z.boolean().optional(),
});

/** One site's result as the workflow hands it to the aggregator. */
export interface RoundUpdate {
  readonly site: string;
  readonly params: Params;
  readonly weight: number;
  /** FULL: the site's new model; DIFF: its change from the model it received. */
  readonly paramsType: ParamsType;
}

/** What a workflow needs from an aggregator, round by round. */
export interface RoundAggregator {
  /** Starts a round whose updates must have the shapes of `global` (and are bounded relative to it). */
  reset(global: Params): void;
  submit(update: RoundUpdate): Promise<void> | void;
  /** The weighted mean of the accepted updates, and their params type (apply a DIFF to the global model). */
  result(): { params: Params; totalWeight: number; accepted: string[]; rejected: { site: string; reason: string }[]; paramsType: ParamsType };
}

/**
 * The default aggregator component: a WeightedAggregator per round, shaped like the current global
 * model; `aggregation_weights` (FLARE's per-site multipliers) scale each site's sample count. All
 * updates of a round have one params type: the expected one, or the first accepted update's.
 */
export class ModelAggregator implements RoundAggregator {
  private current: WeightedAggregator | undefined;
  private global: Params | undefined;
  private roundType: ParamsType | undefined;
  private readonly refused: { site: string; reason: string }[] = [];
  private readonly expected: ParamsType | undefined;

  constructor(private readonly a: z.infer<typeof aggregatorArgs>) {
    this.expected = a.expected_data_kind ? DATA_KIND_PARAMS_TYPE[a.expected_data_kind] : undefined;
  }

  reset(global: Params): void {
    this.global = global;
    this.current = undefined;
    this.roundType = this.expected;
    this.refused.length = 0;
  }

  submit(update: RoundUpdate): Promise<void> | void {
    if (!this.global) throw new Error("reset() first");
    if (this.roundType !== undefined && update.paramsType !== this.roundType) {
      const reason =
        this.expected !== undefined
          ? `params_type ${update.paramsType}, but the aggregator's expected_data_kind is ${this.a.expected_data_kind} (${this.expected}); send ${this.expected} or change expected_data_kind`
          : `params_type ${update.paramsType}, but this round's first update was ${this.roundType}: one round cannot mix FULL models and DIFFs`;
      this.refused.push({ site: update.site, reason });
      throw new CohortError(AggregationErrorCode.ParamsType, `update from ${update.site} refused: ${reason}`, {
        site: update.site,
        paramsType: update.paramsType,
      });
    }
    this.roundType = update.paramsType;
    // A DIFF is bounded by its own norm; a FULL model by its distance from the global model.
    this.current ??= new WeightedAggregator(Object.fromEntries(Object.entries(this.global).map(([k, v]) => [k, [v.length]])), {
      maxStaged: this.a.max_staged,
      ...(update.paramsType === "FULL" ? { global: this.global } : {}),
      ...(this.a.norm_bound !== undefined ? { normBound: this.a.norm_bound } : {}),
    });
    const scale = this.a.aggregation_weights?.[update.site] ?? 1;
    return this.current.submit({ site: update.site, params: update.params, weight: update.weight * scale });
  }

  /** With no update accepted, the global model unchanged and every refusal with its reason (the workflow decides). */
  result(): ReturnType<RoundAggregator["result"]> {
    if (!this.global) throw new Error("reset() first");
    const none = (rejected: readonly { site: string; reason: string }[]) => ({
      params: this.global as Params,
      totalWeight: 0,
      accepted: [],
      rejected: [...this.refused, ...rejected],
      paramsType: this.roundType ?? "FULL",
    });
    if (!this.current) return none([]);
    try {
      const r = this.current.result();
      return { ...r, rejected: [...this.refused, ...r.rejected], paramsType: this.roundType ?? "FULL" };
    } catch (err) {
      if (!isCohortError(err, AggregationErrorCode.Empty)) throw err;
      return none((err.details["rejected"] as { site: string; reason: string }[] | undefined) ?? []);
    }
  }
}
