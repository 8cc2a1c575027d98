/**
 * HE filters and aggregator (FLARE's HEModelEncryptor / HEModelDecryptor /
 * HEInTimeAccumulateWeightedAggregator, on CKKS via he.ts). Sites encrypt chosen layers multiplied
 * by their weight (sample count); the server sums ciphertexts and weights with no key; sites
 * decrypt the new global model and divide by the summed weight. node-seal is loaded on first use.
 */
import { z } from "zod";
import { CohortError } from "../errors/index.js";
import { FLModel } from "../wire/index.js";
import type { CkksContext, CkksSum } from "./he.js";
import type { SerializedCkksContext } from "./he-context.js";
import { isPackedLayer, packLayer, unpackLayer, type EncryptedLayer } from "./he-frame.js";
import type { FilterContext, ModelFilter } from "./types.js";
import { HeErrorCode, PrivacyErrorCode } from "./errors.js";

const contexts = new Map<string, Promise<CkksContext>>();
async function contextFor(s: SerializedCkksContext): Promise<CkksContext> {
  const key = `${s.params}|${s.secret_key ?? ""}`;
  let c = contexts.get(key);
  if (!c) {
    c = import("./he.js").then((m) => m.CkksContext.load(s));
    contexts.set(key, c);
  }
  return c;
}

function clientContext(ctx: FilterContext, what: string): SerializedCkksContext {
  if (!ctx.ckks?.secret_key)
    throw new CohortError(PrivacyErrorCode.Filter, `${what}: ${ctx.site} has no CKKS client context (with its secret key)`, { site: ctx.site });
  return ctx.ckks;
}

const withParams = (model: FLModel, params: Record<string, unknown>, meta: Record<string, unknown> = {}): FLModel =>
  new FLModel({
    params: params as FLModel["params"],
    paramsType: model.paramsType,
    metrics: model.metrics,
    meta: { ...model.meta, ...meta },
    currentRound: model.currentRound,
    totalRounds: model.totalRounds,
  });

export const heEncryptorArgs = z.object({
  encrypt_layers: z.union([z.array(z.string()), z.string().min(1)]).optional(),
  weigh_by_local_iter: z.boolean().default(true),
  aggregation_weights: z.record(z.string(), z.number()).optional(),
  tenseal_context_file: z.string().optional(),
  data_kinds: z.array(z.string()).optional(),
});

export class HEModelEncryptor implements ModelFilter {
  private readonly select: (name: string) => boolean;

  constructor(private readonly a: z.infer<typeof heEncryptorArgs>) {
    const l = a.encrypt_layers;
    if (l === undefined) this.select = () => true;
    else if (typeof l === "string") {
      const re = new RegExp(l);
      this.select = (n) => re.test(n);
    } else this.select = (n) => l.includes(n);
  }

  async filter(model: FLModel, ctx: FilterContext): Promise<FLModel> {
    const names = Object.keys(model.params).filter(
      (k) => (model.params[k] instanceof Float32Array || model.params[k] instanceof Float64Array) && this.select(k),
    );
    if (names.length === 0) return model;
    const ser = clientContext(ctx, "HEModelEncryptor");
    const c = await contextFor(ser);
    const steps = Number(model.meta["NUM_STEPS_CURRENT_ROUND"] ?? 1);
    const weight = (this.a.weigh_by_local_iter && Number.isFinite(steps) && steps > 0 ? steps : 1) * (this.a.aggregation_weights?.[ctx.site] ?? 1);
    const params: Record<string, unknown> = { ...model.params };
    // Several chosen layers go into one vector: a ciphertext holds 4096 values, so encrypting each
    // small layer on its own (a bias of 10 values) would cost a whole ciphertext. One layer keeps its name.
    const layout = names.map((n) => [n, (model.params[n] as Float32Array | Float64Array).length] as const);
    const flat = new Float64Array(layout.reduce((s, [, len]) => s + len, 0));
    let at = 0;
    for (const n of names) {
      const v = model.params[n] as Float32Array | Float64Array;
      for (let i = 0; i < v.length; i++) flat[at + i] = (v[i] as number) * weight;
      at += v.length;
      delete params[n];
    }
    params[names.length === 1 ? (names[0] as string) : packedLayerName(layout)] = packLayer({
      length: flat.length,
      weight,
      params: ser.params,
      cts: c.encrypt(flat),
    });
    return withParams(model, params, { he_processed_keys: names, he_weight: weight, NUM_STEPS_CURRENT_ROUND: weight });
  }
}

/**
 * The packed layers' names and lengths travel in the packed entry's name, so the server's checks
 * (the same names in every update) also check the same layout, and the layout survives aggregation.
 */
const PACKED_PREFIX = "he_packed:";
const packedLayoutSchema = z.array(z.tuple([z.string().min(1), z.number().int().min(0)]));

function packedLayerName(layout: readonly (readonly [string, number])[]): string {
  return PACKED_PREFIX + JSON.stringify(layout);
}

/** The layout of a packed entry (undefined: a layer encrypted on its own, by an older site); checked against its length. */
function packedLayout(name: string, length: number): [string, number][] | undefined {
  if (!name.startsWith(PACKED_PREFIX)) return undefined;
  let parsed: unknown;
  try {
    parsed = JSON.parse(name.slice(PACKED_PREFIX.length));
  } catch {
    parsed = undefined;
  }
  const r = packedLayoutSchema.safeParse(parsed);
  if (!r.success || r.data.reduce((s, [, len]) => s + len, 0) !== length)
    throw new CohortError(PrivacyErrorCode.Filter, `encrypted entry ${JSON.stringify(name.slice(0, 200))}: its layout does not match its ${length} values`, {});
  return r.data;
}

export class HEModelDecryptor implements ModelFilter {
  async filter(model: FLModel, ctx: FilterContext): Promise<FLModel> {
    const names = Object.keys(model.params).filter((k) => isPackedLayer(model.params[k]));
    if (names.length === 0) return model;
    const c = await contextFor(clientContext(ctx, "HEModelDecryptor"));
    const params: Record<string, unknown> = { ...model.params };
    for (const n of names) {
      const l = unpackLayer(model.params[n] as Uint8Array);
      const v = c.decrypt(l.cts, l.length);
      const layout = packedLayout(n, l.length);
      if (!layout) {
        params[n] = Float32Array.from(v, (x) => x / l.weight);
        continue;
      }
      delete params[n];
      let at = 0;
      for (const [name, len] of layout) {
        params[name] = Float32Array.from(v.subarray(at, at + len), (x) => x / l.weight);
        at += len;
      }
    }
    return withParams(model, params);
  }
}

type Params = Record<string, unknown>;

/**
 * FLARE's HEInTimeAccumulateWeightedAggregator arguments. Sites weigh their layers before
 * encrypting (HEModelEncryptor's weigh_by_local_iter and aggregation_weights), so weights here
 * would need a plaintext × ciphertext product the sums do not need: refused, not ignored.
 */
export const heAggregatorArgs = z.strictObject({
  exclude_vars: z.unknown().optional(),
  aggregation_weights: z
    .record(z.string(), z.number())
    .optional()
    .refine(
      (w) => w === undefined || Object.values(w).every((x) => x === 1),
      "per-site weights are applied by the sites: set aggregation_weights in HEModelEncryptor's args instead",
    ),
  expected_data_kind: z.enum(["WEIGHTS", "WEIGHT_DIFF"]).optional(),
  weigh_by_local_iter: z
    .literal(false, { error: "sites weigh by local iterations before encrypting: set weigh_by_local_iter in HEModelEncryptor's args instead" })
    .optional(),
});

/**
 * The server's aggregator for HE: sums the encrypted layers (no secret key: the public parameters
 * come with each layer) and the weights; plaintext layers get the usual weighted mean. It checks
 * what it can on ciphertexts: the same layer names, lengths, parameters and weights in every update.
 */
export class HEAggregator {
  /** Per encrypted layer: its framing (length, summed weight, parameters) and the running sum. */
  private enc = new Map<string, { layer: Omit<EncryptedLayer, "cts">; sum: CkksSum }>();
  private plain = new Map<string, Float64Array>();
  private total = 0;
  private names: string[] | undefined;
  private accepted: string[] = [];
  private rejected: { site: string; reason: string }[] = [];

  reset(): void {
    for (const e of this.enc.values()) e.sum.delete();
    this.enc = new Map();
    this.plain = new Map();
    this.total = 0;
    this.names = undefined;
    this.accepted = [];
    this.rejected = [];
  }

  async submit(u: { site: string; params: Params; weight: number; paramsType?: "FULL" | "DIFF" }): Promise<void> {
    const refuse = (reason: string): never => {
      this.rejected.push({ site: u.site, reason });
      throw new CohortError(HeErrorCode.Update, `${u.site}: ${reason}`, { site: u.site });
    };
    // The server never holds the global model in the clear, so it cannot add a DIFF to it.
    if (u.paramsType === "DIFF") refuse("params_type DIFF: HE aggregation here sums encrypted FULL models; send FULL (params_transfer_type FULL)");
    const names = Object.keys(u.params).sort();
    if (this.names && names.join("\n") !== this.names.join("\n")) refuse(`layer names differ from the other updates (${names.length} vs ${this.names.length})`);
    const layers = new Map<string, EncryptedLayer>();
    for (const n of names) {
      const v = u.params[n];
      if (isPackedLayer(v)) {
        const l = unpackLayer(v);
        const prev = this.enc.get(n)?.layer;
        if (prev && (prev.length !== l.length || prev.params !== l.params)) refuse(`encrypted layer ${n}: length or CKKS parameters differ`);
        if (Math.abs(l.weight - u.weight) > 1e-9 * Math.max(1, u.weight))
          refuse(`encrypted layer ${n}: weighted by ${l.weight}, but the update's weight is ${u.weight}`);
        layers.set(n, l);
      } else if (v instanceof Float32Array || v instanceof Float64Array) {
        if (this.names && this.enc.has(n)) refuse(`layer ${n} is not encrypted in this update`);
      } else refuse(`layer ${n} is neither numbers nor an encrypted layer`);
    }
    for (const [n, l] of layers) {
      let e = this.enc.get(n);
      if (!e) {
        const { cts: _, ...layer } = l;
        e = { layer: { ...layer, weight: 0 }, sum: (await contextFor({ scheme: "ckks", params: l.params })).sum() };
        this.enc.set(n, e);
      }
      e.sum.add(l.cts);
      e.layer = { ...e.layer, weight: e.layer.weight + l.weight };
    }
    for (const n of names) {
      const v = u.params[n];
      if (!(v instanceof Float32Array || v instanceof Float64Array)) continue;
      const acc = this.plain.get(n) ?? new Float64Array(v.length);
      for (let i = 0; i < v.length; i++) acc[i] = (acc[i] as number) + (v[i] as number) * u.weight;
      this.plain.set(n, acc);
    }
    this.names ??= names;
    this.total += u.weight;
    this.accepted.push(u.site);
  }

  result(): { params: Params; totalWeight: number; accepted: string[]; rejected: { site: string; reason: string }[]; paramsType: "FULL" } {
    const params: Params = {};
    for (const [n, e] of this.enc) params[n] = packLayer({ ...e.layer, cts: e.sum.save() });
    for (const [n, acc] of this.plain) params[n] = Float32Array.from(acc, (x) => x / (this.total || 1));
    return { params, totalWeight: this.total, accepted: [...this.accepted], rejected: [...this.rejected], paramsType: "FULL" };
  }
}

export const HE_COMPONENTS = {
  encryptor: { paths: ["cohort.HEModelEncryptor", "nvflare.app_opt.he.model_encryptor.HEModelEncryptor", "HEModelEncryptor"] },
  decryptor: { paths: ["cohort.HEModelDecryptor", "nvflare.app_opt.he.model_decryptor.HEModelDecryptor", "HEModelDecryptor"] },
  aggregator: { paths: ["cohort.HEAggregator", "nvflare.app_opt.he.intime_accumulate_model_aggregator.HEInTimeAccumulateWeightedAggregator"] },
} as const;

/** The HE filters' paths: they need the site's secret key, so a site runs them in its own process, never in job code. */
export const HE_FILTER_PATHS: ReadonlySet<string> = new Set<string>([...HE_COMPONENTS.encryptor.paths, ...HE_COMPONENTS.decryptor.paths]);
