/**
 * A model's parameters as workflows hold them (flat float32 arrays, or tensors with a shape, e.g.
 * FLARE's numpy models) and as aggregation folds them (flat float32), and FLARE's params types:
 * a FULL update replaces the model it was computed from, a DIFF is added to it.
 */
import { Tensor, type WireRecord } from "../../wire/index.js";
import type { Params } from "./weighted-average.js";

/** FLARE's ParamsType: what a result's parameters are relative to the model the site received. */
export type ParamsType = "FULL" | "DIFF";

/** FLARE's DataKind names for the same thing (an aggregator's `expected_data_kind`). */
export const DATA_KIND_PARAMS_TYPE = { WEIGHTS: "FULL", WEIGHT_DIFF: "DIFF" } as const satisfies Record<string, ParamsType>;

/** Each parameter's shape, for parameters that arrived as tensors (undefined: a flat array). */
export type TensorShapes = Readonly<Record<string, readonly number[] | undefined>>;

/**
 * `params` with tensors as their flat data (no copy) and the tensor shapes to restore. Other values
 * pass unchanged: the aggregator judges them (the weighted mean takes float32 arrays, HE
 * aggregation its encrypted layers).
 */
export function flattenParams(params: WireRecord): { flat: Params; shapes: TensorShapes } {
  const flat: Record<string, unknown> = {};
  const shapes: Record<string, readonly number[] | undefined> = {};
  for (const [name, value] of Object.entries(params)) {
    flat[name] = value instanceof Tensor ? value.data : value;
    shapes[name] = value instanceof Tensor ? value.shape : undefined;
  }
  return { flat: flat as Params, shapes };
}

/** `flat` with the tensor shapes of `shapes` put back (parameters without one stay flat). */
export function restoreShapes(flat: Params, shapes: TensorShapes): WireRecord {
  const out: WireRecord = {};
  for (const [name, data] of Object.entries(flat)) {
    const shape = shapes[name];
    out[name] = shape ? new Tensor(data, shape) : data;
  }
  return out;
}

/** The new global model from the round's aggregate: the aggregate itself (FULL), or the model plus it (DIFF). */
export function applyAggregate(global: Params, aggregate: Params, paramsType: ParamsType): Params {
  if (paramsType === "FULL") return aggregate;
  const out: Params = {};
  for (const [name, g] of Object.entries(global)) {
    const d = aggregate[name];
    // A DIFF without some parameter leaves it unchanged (FLARE adds only what the diff holds).
    if (!d) {
      out[name] = g;
      continue;
    }
    const sum = new Float32Array(g.length);
    for (let i = 0; i < g.length; i++) sum[i] = (g[i] as number) + (d[i] as number);
    out[name] = sum;
  }
  return out;
}

/** A result's params type: FLARE treats a missing one as FULL. */
export function paramsTypeOf(value: ParamsType | null | undefined): ParamsType {
  return value ?? "FULL";
}
