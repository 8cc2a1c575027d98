import { invalid, isRecord, requireOneOf, requireRecord, type WireRecord } from "./state.js";

/** What a DXO's data holds (FLARE's DataKind names, so Python peers read them unchanged). */
export const DATA_KINDS = ["WEIGHTS", "WEIGHT_DIFF", "METRICS", "ANALYTIC", "COLLECTION", "STATISTICS", "PSI", "APP_DEFINED", "FL_MODEL", "NONE"] as const;
export type DataKind = (typeof DATA_KINDS)[number];

export interface DXOInit {
  readonly dataKind: DataKind;
  readonly data: WireRecord;
  readonly meta?: WireRecord;
}

/** Data Exchange Object: the unit of FL payload (weights, diffs, metrics, or a collection of DXOs). */
export class DXO {
  readonly dataKind: DataKind;
  readonly data: WireRecord;
  readonly meta: WireRecord;

  constructor({ dataKind, data, meta = {} }: DXOInit) {
    this.dataKind = requireOneOf("DXO", "data_kind", dataKind, DATA_KINDS);
    this.data = requireRecord("DXO", "data", data);
    this.meta = requireRecord("DXO", "meta", meta);
    if (dataKind === "COLLECTION") {
      for (const [name, item] of Object.entries(data)) {
        if (!(item instanceof DXO)) invalid("DXO", `COLLECTION entry "${name.slice(0, 64)}" is not a DXO`);
      }
    }
  }
}

/** Wire state: map {data_kind, data, meta}. */
export function decomposeDXO(dxo: DXO): unknown {
  return { data_kind: dxo.dataKind, data: dxo.data, meta: dxo.meta };
}

export function recomposeDXO(state: unknown): DXO {
  if (!isRecord(state)) invalid("DXO", "state must be a map");
  return new DXO({ dataKind: state.data_kind as DataKind, data: state.data as WireRecord, meta: state.meta as WireRecord });
}
