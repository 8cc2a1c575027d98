/**
 * Cohort's built-in privacy filters, with FLARE's names and arguments (flare-digest §7.3):
 * ExcludeVars, PercentilePrivacy, SVTPrivacy, and GaussianPrivacy (FLARE has no Gaussian filter).
 * DP filters work on the model update: a DIFF result as is, a FULL result as (result − the task
 * data it answers) when that is known, then add the filtered update back to the reference.
 */
import { z } from "zod";
import { CohortError } from "../errors/index.js";
import { FLModel } from "../wire/index.js";
import { secureRandom, type SecureRandom } from "./noise.js";
import type { FilterContext, ModelFilter } from "./types.js";
import { PrivacyErrorCode } from "./errors.js";

type Floats = Float32Array | Float64Array;
const isFloats = (v: unknown): v is Floats => v instanceof Float32Array || v instanceof Float64Array;

/** Parses a filter's args with a message naming the filter, the arg, the value and the rule. */
export function parseFilterArgs<T>(filter: string, schema: z.ZodType<T>, args: unknown): T {
  const r = schema.safeParse(args ?? {}, { reportInput: true });
  if (r.success) return r.data;
  const i = r.error.issues[0];
  const field = i?.path.map(String).join(".") || "(args)";
  const got = i && "input" in i && i.input !== undefined ? ` (got ${JSON.stringify(i.input).slice(0, 80)})` : "";
  throw new CohortError(PrivacyErrorCode.Filter, `${filter} args.${field}: ${i?.message ?? "invalid"}${got}`, { filter, field });
}

function withParams(model: FLModel, params: Record<string, unknown>, meta?: Record<string, unknown>): FLModel {
  return new FLModel({
    params: params as FLModel["params"],
    paramsType: model.paramsType,
    metrics: model.metrics,
    meta: { ...model.meta, ...(meta ?? {}) },
    currentRound: model.currentRound,
    totalRounds: model.totalRounds,
  });
}

/** The float parameters of a model as an update (see the module comment). */
export interface Update {
  readonly names: readonly string[];
  readonly values: Map<string, Float64Array>;
  /** Whether the update was taken against the task data (FULL result) rather than given (DIFF). */
  readonly relative: boolean;
  finish(values: Map<string, Float64Array>, meta?: Record<string, unknown>): FLModel;
}

export function updateOf(model: FLModel, ctx: Pick<FilterContext, "reference">): Update {
  const ref = model.paramsType === "DIFF" ? undefined : ctx.reference;
  const names = Object.keys(model.params)
    .filter((k) => isFloats(model.params[k]))
    .sort();
  const bases = new Map<string, Floats | undefined>();
  const values = new Map<string, Float64Array>();
  let relative = false;
  for (const n of names) {
    const cur = model.params[n] as Floats;
    const r = ref?.params[n];
    const base = isFloats(r) && r.length === cur.length ? r : undefined;
    if (base) relative = true;
    bases.set(n, base);
    const v = new Float64Array(cur.length);
    for (let i = 0; i < cur.length; i++) v[i] = (cur[i] as number) - (base ? (base[i] as number) : 0);
    values.set(n, v);
  }
  return {
    names,
    values,
    relative,
    finish(out, meta) {
      const params: Record<string, unknown> = { ...model.params };
      for (const n of names) {
        const cur = model.params[n] as Floats;
        const base = bases.get(n);
        const v = out.get(n) as Float64Array;
        const o = cur instanceof Float32Array ? new Float32Array(cur.length) : new Float64Array(cur.length);
        for (let i = 0; i < o.length; i++) o[i] = (v[i] as number) + (base ? (base[i] as number) : 0);
        params[n] = o;
      }
      return withParams(model, params, meta);
    },
  };
}

/** FLARE's local-step scale: NUM_STEPS_CURRENT_ROUND (default 1). */
function stepsOf(model: FLModel): number {
  const s = Math.abs(Number(model.meta["NUM_STEPS_CURRENT_ROUND"] ?? 1));
  return Number.isFinite(s) && s > 0 ? s : 1;
}

// ---------------------------------------------------------------- ExcludeVars

export const excludeVarsArgs = z.object({ exclude_vars: z.union([z.array(z.string()), z.string().min(1)]), data_kinds: z.array(z.string()).optional() });

/** Removes parameters by name (a list) or by regular expression (a string, searched in the name). */
export class ExcludeVars implements ModelFilter {
  private readonly match: (name: string) => boolean;

  constructor(a: z.infer<typeof excludeVarsArgs>) {
    if (typeof a.exclude_vars === "string") {
      let re: RegExp;
      try {
        re = new RegExp(a.exclude_vars);
      } catch (cause) {
        throw new CohortError(PrivacyErrorCode.Filter, `ExcludeVars args.exclude_vars: not a valid regular expression (${(cause as Error).message})`, {
          field: "exclude_vars",
        });
      }
      this.match = (n) => re.test(n);
    } else {
      const set = new Set(a.exclude_vars);
      this.match = (n) => set.has(n);
    }
  }

  filter(model: FLModel, ctx: FilterContext): FLModel {
    const kept = Object.fromEntries(Object.entries(model.params).filter(([k]) => !this.match(k)));
    const removed = Object.keys(model.params).length - Object.keys(kept).length;
    if (removed) ctx.log(`ExcludeVars: removed ${removed} parameter(s) from ${ctx.taskName}`);
    return withParams(model, kept);
  }
}

// ---------------------------------------------------------------- PercentilePrivacy

export const percentileArgs = z.object({
  percentile: z.number().min(0).max(100).default(10),
  gamma: z.number().positive().default(0.01),
  data_kinds: z.array(z.string()).optional(),
});

/** numpy.percentile's default (linear interpolation between closest ranks). */
export function percentileOf(sorted: Float64Array, q: number): number {
  if (sorted.length === 0) return 0;
  const pos = (q / 100) * (sorted.length - 1);
  const lo = Math.floor(pos);
  const hi = Math.min(lo + 1, sorted.length - 1);
  return (sorted[lo] as number) + (pos - lo) * ((sorted[hi] as number) - (sorted[lo] as number));
}

/**
 * Shokri & Shmatikov (CCS'15), as FLARE: Δw / steps; cutoff = percentile of |Δw| over all
 * parameters; entries with |Δw| < cutoff become 0; the rest are clipped to [−γ, γ]; × steps.
 */
export class PercentilePrivacy implements ModelFilter {
  constructor(private readonly a: z.infer<typeof percentileArgs>) {}

  filter(model: FLModel, ctx: FilterContext): FLModel {
    const u = updateOf(model, ctx);
    const steps = stepsOf(model);
    let total = 0;
    for (const v of u.values.values()) total += v.length;
    const all = new Float64Array(total);
    let k = 0;
    for (const v of u.values.values()) for (let i = 0; i < v.length; i++) all[k++] = Math.abs((v[i] as number) / steps);
    all.sort();
    const cutoff = percentileOf(all, this.a.percentile);
    const g = this.a.gamma;
    const out = new Map<string, Float64Array>();
    for (const [n, v] of u.values) {
      const o = new Float64Array(v.length);
      for (let i = 0; i < v.length; i++) {
        const d = (v[i] as number) / steps;
        o[i] = Math.abs(d) < cutoff ? 0 : Math.min(g, Math.max(-g, d)) * steps;
      }
      out.set(n, o);
    }
    return u.finish(out, { percentile_privacy: { percentile: this.a.percentile, gamma: g, cutoff } });
  }
}

// ---------------------------------------------------------------- SVTPrivacy

export const svtArgs = z.object({
  fraction: z.number().gt(0).max(1).default(0.1),
  epsilon: z.number().positive().default(0.1),
  noise_var: z.number().min(0).default(0.1),
  gamma: z.number().positive().default(1e-5),
  tau: z.number().min(0).default(1e-6),
  replace: z.boolean().default(true),
  epsilon_threshold: z.number().positive().optional(),
  epsilon_query: z.number().positive().optional(),
  epsilon_release: z.number().min(0).optional(),
  data_kinds: z.array(z.string()).optional(),
});

/** The ε split of one SVT call: threshold, query, release (pure DP, δ = 0). */
export function svtBudget(a: z.infer<typeof svtArgs>, n: number): { c: number; threshold: number; query: number; release: number; total: number } {
  const c = Math.min(Math.ceil(n * a.fraction), n);
  const ratio = (2 * c) ** (2 / 3);
  const threshold = a.epsilon_threshold ?? a.epsilon / (1 + ratio);
  const query = a.epsilon_query ?? a.epsilon - threshold;
  const release = a.epsilon_release ?? c * a.noise_var;
  return { c, threshold, query, release, total: threshold + query + release };
}

/**
 * Sparse vector technique (FLARE's SVTPrivacy): releases c = ceil(fraction·N) noisy entries of
 * the clipped update whose noisy magnitude passes a noisy threshold; the others are 0. Charges
 * ε_threshold + ε_query + ε_release (basic composition) before drawing any noise.
 */
export class SVTPrivacy implements ModelFilter {
  constructor(
    private readonly a: z.infer<typeof svtArgs>,
    private readonly rng: SecureRandom = secureRandom,
  ) {}

  async filter(model: FLModel, ctx: FilterContext): Promise<FLModel> {
    const u = updateOf(model, ctx);
    const steps = stepsOf(model);
    let n = 0;
    for (const v of u.values.values()) n += v.length;
    if (n === 0) return model;
    const b = svtBudget(this.a, n);
    await ctx.charge({ filter: "SVTPrivacy", epsilon: b.total, delta: 0 });
    const g = this.a.gamma;
    const dw = new Float64Array(n);
    let k = 0;
    for (const v of u.values.values()) for (let i = 0; i < v.length; i++) dw[k++] = Math.min(g, Math.max(-g, (v[i] as number) / steps));
    const threshold = this.a.tau + this.rng.laplace(g / b.threshold);
    const queryScale = (2 * g * b.c) / b.query;
    const accepted: number[] = [];
    const seen = new Uint8Array(n);
    for (let pass = 0; accepted.length < b.c; pass++) {
      if (pass >= 10_000)
        throw new CohortError(
          PrivacyErrorCode.Filter,
          `SVTPrivacy: fewer than ${b.c} entries pass the threshold after ${pass} passes (check gamma and tau)`,
          {},
        );
      for (let i = 0; i < n; i++)
        if (!seen[i] && Math.abs(dw[i] as number) + this.rng.laplace(queryScale) >= threshold) {
          seen[i] = 1;
          accepted.push(i);
        }
    }
    const chosen: number[] = [];
    if (this.a.replace) for (let j = 0; j < b.c; j++) chosen.push(accepted[this.rng.int(accepted.length)] as number);
    else {
      for (let j = 0; j < b.c; j++) {
        const r = j + this.rng.int(accepted.length - j);
        [accepted[j], accepted[r]] = [accepted[r] as number, accepted[j] as number];
        chosen.push(accepted[j] as number);
      }
    }
    const released = new Float64Array(n);
    const releaseScale = b.release > 0 ? (2 * g * b.c) / b.release : 0;
    for (const i of new Set(chosen)) {
      const noisy = (dw[i] as number) + (releaseScale > 0 ? this.rng.laplace(releaseScale) : 0);
      released[i] = Math.min(g, Math.max(-g, noisy)) * steps;
    }
    const out = new Map<string, Float64Array>();
    k = 0;
    for (const [name, v] of u.values) {
      out.set(name, released.slice(k, k + v.length));
      k += v.length;
    }
    ctx.log(`SVTPrivacy: released ${new Set(chosen).size} of ${n} entries; spent ε=${b.total.toPrecision(4)}`);
    return u.finish(out, { svt_privacy_budget: { epsilon_threshold: b.threshold, epsilon_query: b.query, epsilon_release: b.release, epsilon: b.total } });
  }
}

// ---------------------------------------------------------------- GaussianPrivacy

export const gaussianArgs = z.object({
  clip_norm: z.number().positive().default(1),
  epsilon: z.number().gt(0).lt(1, "the classic Gaussian mechanism bound holds for 0 < epsilon < 1"),
  delta: z.number().gt(0).lt(1),
  data_kinds: z.array(z.string()).optional(),
});

/** The classic (Dwork & Roth, Thm A.1) calibration: σ = C·sqrt(2 ln(1.25/δ))/ε for L2 sensitivity C. */
export function gaussianSigma(clipNorm: number, epsilon: number, delta: number): number {
  return (clipNorm * Math.sqrt(2 * Math.log(1.25 / delta))) / epsilon;
}

/**
 * The Gaussian mechanism on the whole update (all float parameters as one vector): clip its L2
 * norm to `clip_norm`, then add N(0, σ²) to every entry with σ from gaussianSigma. Charges (ε, δ)
 * before drawing noise.
 */
export class GaussianPrivacy implements ModelFilter {
  readonly sigma: number;

  constructor(
    private readonly a: z.infer<typeof gaussianArgs>,
    private readonly rng: SecureRandom = secureRandom,
  ) {
    this.sigma = gaussianSigma(a.clip_norm, a.epsilon, a.delta);
  }

  async filter(model: FLModel, ctx: FilterContext): Promise<FLModel> {
    const u = updateOf(model, ctx);
    if (u.names.length === 0) return model;
    await ctx.charge({ filter: "GaussianPrivacy", epsilon: this.a.epsilon, delta: this.a.delta });
    let sq = 0;
    for (const v of u.values.values()) for (let i = 0; i < v.length; i++) sq += (v[i] as number) ** 2;
    const norm = Math.sqrt(sq);
    const scale = norm > this.a.clip_norm ? this.a.clip_norm / norm : 1;
    const out = new Map<string, Float64Array>();
    for (const [n, v] of u.values) {
      const o = new Float64Array(v.length);
      for (let i = 0; i < v.length; i++) o[i] = (v[i] as number) * scale + this.sigma * this.rng.gaussian();
      out.set(n, o);
    }
    ctx.log(
      `GaussianPrivacy: update norm ${norm.toPrecision(4)} clipped to ${Math.min(norm, this.a.clip_norm).toPrecision(4)}, σ=${this.sigma.toPrecision(4)}; spent ε=${this.a.epsilon}, δ=${this.a.delta}`,
    );
    return u.finish(out, {
      dp_gaussian: { epsilon: this.a.epsilon, delta: this.a.delta, sigma: this.sigma, clip_norm: this.a.clip_norm, relative: u.relative },
    });
  }
}

/** The built-ins by short name (FLARE's privacy.json `name`), with their FLARE class paths. */
export const BUILTIN_FILTERS: readonly { name: string; paths: readonly string[]; create(args: unknown): ModelFilter }[] = [
  {
    name: "ExcludeVars",
    paths: ["cohort.ExcludeVars", "nvflare.app_common.filters.exclude_vars.ExcludeVars"],
    create: (a) => new ExcludeVars(parseFilterArgs("ExcludeVars", excludeVarsArgs, a)),
  },
  {
    name: "PercentilePrivacy",
    paths: ["cohort.PercentilePrivacy", "nvflare.app_common.filters.percentile_privacy.PercentilePrivacy"],
    create: (a) => new PercentilePrivacy(parseFilterArgs("PercentilePrivacy", percentileArgs, a)),
  },
  {
    name: "SVTPrivacy",
    paths: ["cohort.SVTPrivacy", "nvflare.app_common.filters.svt_privacy.SVTPrivacy"],
    create: (a) => new SVTPrivacy(parseFilterArgs("SVTPrivacy", svtArgs, a)),
  },
  { name: "GaussianPrivacy", paths: ["cohort.GaussianPrivacy"], create: (a) => new GaussianPrivacy(parseFilterArgs("GaussianPrivacy", gaussianArgs, a)) },
];
