/**
 * The one error base class of Cohort. Every refusal carries a stable `code` (e.g.
 * `ERR_KIT_TAMPERED`) that callers switch on, and structured `details` (file, field, value,
 * fix…) so that messages can be rebuilt or logged as data. Messages never contain key material.
 */
export type ErrorDetails = Readonly<Record<string, unknown>>;

export class CohortError extends Error {
  readonly code: string;
  readonly details: ErrorDetails;

  constructor(code: string, message: string, details: ErrorDetails = {}, options?: { cause?: unknown }) {
    super(message, options);
    this.name = "CohortError";
    this.code = code;
    this.details = details;
  }

  toJSON(): { code: string; message: string; details: ErrorDetails } {
    return { code: this.code, message: this.message, details: this.details };
  }
}

/** True when `err` is a CohortError (optionally with the given code), across module copies. */
export function isCohortError(err: unknown, code?: string): err is CohortError {
  if (typeof err !== "object" || err === null) return false;
  const c = (err as { code?: unknown }).code;
  if (typeof c !== "string" || !(err instanceof Error) || (err as Error).name !== "CohortError") return false;
  return code === undefined || c === code;
}
