import { CohortError, type ErrorDetails } from "../errors/index.js";

/** Every code the wire layer throws; callers switch on these, so they never change meaning. */
export type WireErrorCode =
  | "ERR_WIRE_UNKNOWN_TYPE"
  | "ERR_WIRE_FORBIDDEN_KEY"
  | "ERR_WIRE_KEY_TYPE"
  | "ERR_WIRE_TOO_DEEP"
  | "ERR_WIRE_TOO_LARGE"
  | "ERR_WIRE_TRUNCATED"
  | "ERR_WIRE_MALFORMED"
  | "ERR_WIRE_INT_RANGE"
  | "ERR_WIRE_UNKNOWN_DTYPE"
  | "ERR_WIRE_TENSOR_SHAPE"
  | "ERR_WIRE_INVALID_VALUE"
  | "ERR_WIRE_UNSUPPORTED_VALUE"
  | "ERR_WIRE_REGISTRY"
  | "ERR_WIRE_STREAM_ORDER"
  | "ERR_WIRE_STREAM_QUOTA"
  | "ERR_WIRE_STREAM_SIZE"
  | "ERR_WIRE_STREAM_INCOMPLETE"
  | "ERR_WIRE_STREAM_INTEGRITY"
  | "ERR_WIRE_STREAM_TIMEOUT"
  | "ERR_WIRE_STREAM_UNKNOWN"
  | "ERR_WIRE_STREAM_CLOSED";

/**
 * The wire layer's error. It is a CohortError (same `name`, so `isCohortError` accepts it across
 * module copies) narrowed to the wire codes.
 */
export class WireError extends CohortError {
  declare readonly code: WireErrorCode;

  constructor(code: WireErrorCode, message: string, details: ErrorDetails = {}, options?: { cause?: unknown }) {
    super(code, message, details, options);
  }
}

/** True for a WireError (or any CohortError carrying an ERR_WIRE_ code) from any module copy. */
export function isWireError(err: unknown, code?: WireErrorCode): err is WireError {
  if (!(err instanceof Error) || err.name !== "CohortError") return false;
  const c = (err as { code?: unknown }).code;
  return typeof c === "string" && c.startsWith("ERR_WIRE_") && (code === undefined || c === code);
}
