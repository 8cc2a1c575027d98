import { WireError } from "./errors.js";
import { registerBuiltinType } from "./registry.js";
import { EXT_BIGINT, EXT_DXO, EXT_FL_MODEL, EXT_MAP, EXT_SHAREABLE, EXT_TENSOR } from "./codes.js";
import { MAX_BIGINT_DIGITS } from "./limits.js";
import { Tensor, decomposeTensor, recomposeTensor } from "./tensor.js";
import { DXO, decomposeDXO, recomposeDXO } from "./dxo.js";
import { FLModel, decomposeFLModel, recomposeFLModel } from "./fl-model.js";
import { Shareable, decomposeShareable, recomposeShareable } from "./shareable.js";

/** Cohort's own registered types (importing this module registers them once). */

const BIGINT_TEXT = /^-?(0|[1-9][0-9]*)$/;

function recomposeBigInt(state: unknown): bigint {
  if (typeof state !== "string" || state.length > MAX_BIGINT_DIGITS + 1 || !BIGINT_TEXT.test(state)) {
    throw new WireError("ERR_WIRE_INVALID_VALUE", `bigint state must be decimal text of at most ${MAX_BIGINT_DIGITS} digits`, {});
  }
  return BigInt(state);
}

function decomposeBigInt(value: bigint): string {
  const text = value.toString(10);
  if (text.replace("-", "").length > MAX_BIGINT_DIGITS) {
    throw new WireError("ERR_WIRE_UNSUPPORTED_VALUE", `bigint of more than ${MAX_BIGINT_DIGITS} digits`, {});
  }
  return text;
}

function recomposeMap(state: unknown): Map<unknown, unknown> {
  if (!Array.isArray(state) || state.length % 2 !== 0) {
    throw new WireError("ERR_WIRE_INVALID_VALUE", "Map state must be a flat [key, value, ...] array", {});
  }
  const map = new Map<unknown, unknown>();
  for (let i = 0; i < state.length; i += 2) map.set(state[i], state[i + 1]);
  return map;
}

function decomposeMap(map: Map<unknown, unknown>): unknown[] {
  const flat: unknown[] = [];
  for (const [key, value] of map) flat.push(key, value);
  return flat;
}

registerBuiltinType({ name: "cohort.Tensor", code: EXT_TENSOR, ctor: Tensor, decompose: (v) => decomposeTensor(v as Tensor), recompose: recomposeTensor });
registerBuiltinType({ name: "cohort.BigInt", code: EXT_BIGINT, ctor: BigInt, decompose: (v) => decomposeBigInt(v as bigint), recompose: recomposeBigInt });
registerBuiltinType({ name: "cohort.Map", code: EXT_MAP, ctor: Map, decompose: (v) => decomposeMap(v as Map<unknown, unknown>), recompose: recomposeMap });
registerBuiltinType({
  name: "cohort.Shareable",
  code: EXT_SHAREABLE,
  ctor: Shareable,
  decompose: (v) => decomposeShareable(v as Shareable),
  recompose: recomposeShareable,
});
registerBuiltinType({ name: "cohort.DXO", code: EXT_DXO, ctor: DXO, decompose: (v) => decomposeDXO(v as DXO), recompose: recomposeDXO });
registerBuiltinType({
  name: "cohort.FLModel",
  code: EXT_FL_MODEL,
  ctor: FLModel,
  decompose: (v) => decomposeFLModel(v as FLModel),
  recompose: recomposeFLModel,
});
