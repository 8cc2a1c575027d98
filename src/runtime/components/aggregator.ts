import { z } from "zod";
import { WeightedAggregator } from "../aggregation/index.js";

export const aggregatorArgs = z.object({
  /** Updates validated and staged at once before folding (K); peak memory ≈ (K + 2) updates. */
  max_staged: z.number().int().min(1).max(64).default(2),
  /** Optional bound on the L2 norm of an update's change from the global model. */
  norm_bound: z.number().positive().optional(),
  // FLARE's InTimeAccumulateWeightedAggregator arguments, accepted for compatibility.
  expected_data_kind: z.string().optional(),
  exclude_vars: z.unknown().optional(),
  aggregation_weights: z.record(z.string(), z.number()).optional(),
});

type Params = Record<string, Float32Array>;

/** What the FedAvg workflow needs from an aggregator, round by round. */
export interface RoundAggregator {
  /** Starts a round whose updates must have the shapes of `global` (and are bounded relative to it). */
  reset(global: Params): void;
  submit(update: { site: string; params: Params; weight: number }): Promise<void> | void;
  result(): { params: Params; totalWeight: number; accepted: string[]; rejected: { site: string; reason: string }[] };
}

/**
 * The default aggregator component: a WeightedAggregator per round, shaped like the current global
 * model; `aggregation_weights` (FLARE's per-site multipliers) scale each site's sample count.
 */
export class ModelAggregator implements RoundAggregator {
  private current: WeightedAggregator | undefined;

  constructor(private readonly a: z.infer<typeof aggregatorArgs>) {}

  reset(global: Params): void {
    const shapes = Object.fromEntries(Object.entries(global).map(([k, v]) => [k, [v.length]]));
    this.current = new WeightedAggregator(shapes, {
      maxStaged: this.a.max_staged,
      global,
      ...(this.a.norm_bound !== undefined ? { normBound: this.a.norm_bound } : {}),
    });
  }

  submit(update: { site: string; params: Params; weight: number }): Promise<void> | void {
    if (!this.current) throw new Error("reset() first");
    const scale = this.a.aggregation_weights?.[update.site] ?? 1;
    return this.current.submit({ ...update, weight: update.weight * scale });
  }

  result(): ReturnType<RoundAggregator["result"]> {
    if (!this.current) throw new Error("reset() first");
    return this.current.result();
  }
}
