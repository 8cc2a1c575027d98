/** Decode-time limits; each one a receiver may tighten per call. */
export interface DecodeLimits {
  /** Refuse inputs longer than this many bytes (ERR_WIRE_TOO_LARGE). */
  readonly maxMessageBytes: number;
  /** Refuse nesting of arrays, maps and registered types deeper than this (ERR_WIRE_TOO_DEEP). */
  readonly maxDepth: number;
}

// FLARE caps a cell frame at 2 GiB - 2 MiB; a 1 GiB model plus its body fits well below that.
export const DEFAULT_MAX_MESSAGE_BYTES = 2 * 1024 ** 3 - 2 * 1024 ** 2;
export const DEFAULT_MAX_DEPTH = 64;
/** Binary values at least this long are framed as sections beside the MessagePack body. */
export const DEFAULT_SECTION_THRESHOLD = 64 * 1024;
/** Longest decimal text accepted for a bigint outside the 64-bit range (bounds parse cost). */
export const MAX_BIGINT_DIGITS = 4096;

export function resolveDecodeLimits(options: Partial<DecodeLimits> | undefined): DecodeLimits {
  return {
    maxMessageBytes: options?.maxMessageBytes ?? DEFAULT_MAX_MESSAGE_BYTES,
    maxDepth: options?.maxDepth ?? DEFAULT_MAX_DEPTH,
  };
}
