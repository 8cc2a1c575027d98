/**
 * Checks a training script's result against the model it was given and brings its parameters to
 * the task's form (same typed-array class, flat or the same tensor shape), so that the server's
 * aggregator and persistor see exactly what they sent. A wrong name or element count fails the task
 * at this site with a reason, before anything leaves it.
 */
import { CohortError } from "../../errors/index.js";
import { FLModel, Tensor, type TypedArray, type WireRecord } from "../../wire/index.js";
import type { TaskKind } from "./channel.js";
import { ClientApiErrorCode } from "./errors.js";

function isTypedArray(v: unknown): v is TypedArray {
  return ArrayBuffer.isView(v) && !(v instanceof DataView);
}

function elements(v: unknown): TypedArray | undefined {
  if (v instanceof Tensor) return v.data;
  if (isTypedArray(v)) return v;
  return undefined;
}

/** `data` as an array of `like`'s class (converted element by element when the classes differ). */
function asClassOf(like: TypedArray, data: TypedArray, key: string, where: string): TypedArray {
  if (data.constructor === like.constructor) return data;
  const bigLike = like instanceof BigInt64Array;
  const bigData = data instanceof BigInt64Array;
  if (bigLike !== bigData)
    throw new CohortError(
      ClientApiErrorCode.Shape,
      `${where}: parameter ${JSON.stringify(key)} is ${data.constructor.name}, the task's model has ${like.constructor.name}; send the same element type`,
      { key },
    );
  const Ctor = like.constructor as new (src: ArrayLike<number> | ArrayLike<bigint>) => TypedArray;
  return new Ctor(data as ArrayLike<number>);
}

export function conformResult(task: FLModel, kind: TaskKind, result: FLModel, where: string): FLModel {
  const expected = task.params as Record<string, unknown>;
  const names = Object.keys(expected);
  const got = result.params as Record<string, unknown>;
  if (names.length === 0 || Object.keys(got).length === 0) return result;
  const params: WireRecord = {};
  for (const [key, value] of Object.entries(got)) {
    const want = expected[key];
    if (want === undefined)
      throw new CohortError(
        ClientApiErrorCode.BadResult,
        `${where}: the result has parameter ${JSON.stringify(key)}, which is not in the task's model (${names.slice(0, 8).join(", ")}${names.length > 8 ? ", …" : ""})`,
        { key },
      );
    const wantData = elements(want);
    const data = elements(value);
    if (!wantData) {
      params[key] = value;
      continue;
    }
    if (!data) throw new CohortError(ClientApiErrorCode.BadResult, `${where}: parameter ${JSON.stringify(key)} is not an array`, { key });
    if (data.length !== wantData.length) {
      const shape = want instanceof Tensor ? `shape [${want.shape.join(", ")}]` : `${wantData.length} values`;
      const gotShape = value instanceof Tensor ? `shape [${value.shape.join(", ")}]` : `${data.length} values`;
      throw new CohortError(ClientApiErrorCode.Shape, `${where}: parameter ${JSON.stringify(key)} has ${gotShape}, the task's model has ${shape}`, {
        key,
        expected: wantData.length,
        got: data.length,
      });
    }
    const converted = asClassOf(wantData, data, key, where);
    params[key] = want instanceof Tensor ? new Tensor(converted, want.shape) : converted;
  }
  if (kind === "train" && result.paramsType !== "DIFF") {
    const missing = names.filter((n) => !(n in got));
    if (missing.length > 0)
      throw new CohortError(ClientApiErrorCode.BadResult, `${where}: a FULL model result lacks parameters ${missing.slice(0, 8).join(", ")}`, { missing });
  }
  return new FLModel({
    params,
    paramsType: result.paramsType,
    metrics: result.metrics,
    meta: result.meta,
    currentRound: result.currentRound,
    totalRounds: result.totalRounds,
  });
}

/** Metrics logged with `log(key, value)` during a task join the result's metrics (the result's own win). */
export function withLoggedMetrics(result: FLModel, logged: ReadonlyMap<string, number>): FLModel {
  if (logged.size === 0) return result;
  const metrics: WireRecord = { ...Object.fromEntries(logged), ...(result.metrics ?? {}) };
  return new FLModel({
    params: result.params,
    paramsType: result.paramsType,
    metrics,
    meta: result.meta,
    currentRound: result.currentRound,
    totalRounds: result.totalRounds,
  });
}

/**
 * FLARE's `params_transfer_type: DIFF` for a script that sends FULL weights: each parameter
 * becomes its difference from the task's (same names, element types and shapes; parameters the
 * task did not have, or that are not arrays, are left as they are). Run after conformResult, which
 * brought the result to the task's arrays.
 */
export function diffFromTask(task: FLModel, result: FLModel, where: string): FLModel {
  const base = task.params as Record<string, unknown>;
  const params: WireRecord = {};
  for (const [key, value] of Object.entries(result.params as Record<string, unknown>)) {
    const data = elements(value);
    const from = elements(base[key]);
    if (!data || !from) {
      params[key] = value;
      continue;
    }
    if (data.length !== from.length || data.constructor !== from.constructor)
      throw new CohortError(
        ClientApiErrorCode.Shape,
        `${where}: parameter ${JSON.stringify(key)} cannot be turned into a DIFF: it is not the task's ${from.constructor.name} of ${from.length} values`,
        { key },
      );
    const diff = data.slice();
    if (diff instanceof BigInt64Array) for (let i = 0; i < diff.length; i++) diff[i] = (diff[i] as bigint) - (from[i] as bigint);
    else for (let i = 0; i < diff.length; i++) (diff as Exclude<TypedArray, BigInt64Array>)[i] = (data[i] as number) - (from[i] as number);
    params[key] = value instanceof Tensor ? new Tensor(diff, value.shape) : diff;
  }
  return new FLModel({
    params,
    paramsType: "DIFF",
    metrics: result.metrics,
    meta: result.meta,
    currentRound: result.currentRound,
    totalRounds: result.totalRounds,
  });
}
