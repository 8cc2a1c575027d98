import { invalid, isRecord, requireRecord, type WireRecord } from "./state.js";

export interface ShareableInit {
  readonly headers?: WireRecord;
  readonly data?: WireRecord;
}

/**
 * A message body as FLARE's Shareable: routing and status `headers` (task name, return code,
 * round…) beside the `data` they describe (usually a DXO under "DXO").
 */
export class Shareable {
  readonly headers: WireRecord;
  readonly data: WireRecord;

  constructor(init: ShareableInit = {}) {
    this.headers = requireRecord("Shareable", "headers", init.headers ?? {});
    this.data = requireRecord("Shareable", "data", init.data ?? {});
  }
}

/** Wire state: map {headers, data}. */
export function decomposeShareable(shareable: Shareable): unknown {
  return { headers: shareable.headers, data: shareable.data };
}

export function recomposeShareable(state: unknown): Shareable {
  if (!isRecord(state)) invalid("Shareable", "state must be a map");
  return new Shareable({ headers: state.headers as WireRecord, data: state.data as WireRecord });
}
