import { invalid, isRecord, optionalCount, optionalRecord, requireOneOf, requireRecord, type WireRecord } from "./state.js";

export const PARAMS_TYPES = ["FULL", "DIFF"] as const;
export type ParamsType = (typeof PARAMS_TYPES)[number];

export interface FLModelInit {
  readonly params?: WireRecord;
  readonly paramsType?: ParamsType | null;
  readonly metrics?: WireRecord | null;
  readonly meta?: WireRecord;
  readonly currentRound?: number | null;
  readonly totalRounds?: number | null;
}

/** A model exchanged between server and clients (FLARE's FLModel, field for field). */
export class FLModel {
  readonly params: WireRecord;
  readonly paramsType: ParamsType | null;
  readonly metrics: WireRecord | null;
  readonly meta: WireRecord;
  readonly currentRound: number | null;
  readonly totalRounds: number | null;

  constructor(init: FLModelInit = {}) {
    this.params = requireRecord("FLModel", "params", init.params ?? {});
    this.paramsType = init.paramsType == null ? null : requireOneOf("FLModel", "params_type", init.paramsType, PARAMS_TYPES);
    this.metrics = optionalRecord("FLModel", "metrics", init.metrics);
    this.meta = requireRecord("FLModel", "meta", init.meta ?? {});
    this.currentRound = optionalCount("FLModel", "current_round", init.currentRound);
    this.totalRounds = optionalCount("FLModel", "total_rounds", init.totalRounds);
  }
}

/** Wire state: map {params, params_type, metrics, meta, current_round, total_rounds}. */
export function decomposeFLModel(model: FLModel): unknown {
  return {
    params: model.params,
    params_type: model.paramsType,
    metrics: model.metrics,
    meta: model.meta,
    current_round: model.currentRound,
    total_rounds: model.totalRounds,
  };
}

export function recomposeFLModel(state: unknown): FLModel {
  if (!isRecord(state)) invalid("FLModel", "state must be a map");
  return new FLModel({
    params: state.params as WireRecord,
    paramsType: state.params_type as ParamsType | null,
    metrics: state.metrics as WireRecord | null,
    meta: state.meta as WireRecord,
    currentRound: state.current_round as number | null,
    totalRounds: state.total_rounds as number | null,
  });
}
