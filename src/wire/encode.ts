import { Encoder } from "@msgpack/msgpack";
import { WireError, isWireError } from "./errors.js";
import { cohortCodec, type EncodeContext, type CodecContext } from "./codec.js";
import { ENCODER_ALIGN_LOG2, MAX_ALIGN_LOG2, MIN_ALIGN_LOG2, frameHead, sectionPadding } from "./frame.js";
import { DEFAULT_MAX_DEPTH, DEFAULT_SECTION_THRESHOLD } from "./limits.js";

export interface EncodeOptions {
  /** Binary values of at least this many bytes go into frame sections (default 64 KiB). */
  readonly sectionThreshold?: number;
  /** Deepest nesting the encoder follows before refusing (default 64, as the decoder). */
  readonly maxDepth?: number;
  /** Sections start at multiples of 2^alignLog2 bytes, 3..12 (default 12: page-aligned copies are fastest). */
  readonly alignLog2?: number;
}

/**
 * Encodes `value` as the list of buffers to write in order: plain MessagePack when nothing is large,
 * otherwise a frame head followed by each section (views of the caller's arrays, not copies) and
 * its padding. Writing the parts one after another produces exactly what `encode` returns.
 */
export function encodeParts(value: unknown, options: EncodeOptions = {}): Uint8Array[] {
  const maxDepth = options.maxDepth ?? DEFAULT_MAX_DEPTH;
  const context: EncodeContext = {
    sections: [],
    sectionThreshold: Math.max(1, options.sectionThreshold ?? DEFAULT_SECTION_THRESHOLD),
    maxDepth,
    nesting: 0,
  };
  const encoder = new Encoder<CodecContext>({
    extensionCodec: cohortCodec,
    context,
    maxDepth,
    ignoreUndefined: true,
    useBigInt64: false, // bigints go through the codec (extension 4): the built-in path would wrap silently past 64 bits
  });
  context.encoder = encoder;
  let body: Uint8Array;
  try {
    body = encoder.encode(value);
  } catch (err) {
    if (isWireError(err)) throw err;
    const message = err instanceof Error ? err.message : String(err);
    const tooDeep = /too deep/i.test(message) || err instanceof RangeError;
    throw new WireError(tooDeep ? "ERR_WIRE_TOO_DEEP" : "ERR_WIRE_UNSUPPORTED_VALUE", `cannot encode: ${message}`, {}, { cause: err });
  }
  if (context.sections.length === 0) return [body];
  const alignLog2 = options.alignLog2 ?? ENCODER_ALIGN_LOG2;
  if (!Number.isInteger(alignLog2) || alignLog2 < MIN_ALIGN_LOG2 || alignLog2 > MAX_ALIGN_LOG2) {
    throw new WireError("ERR_WIRE_INVALID_VALUE", `alignLog2 must be an integer in ${MIN_ALIGN_LOG2}..${MAX_ALIGN_LOG2}`, { alignLog2 });
  }
  const parts: Uint8Array[] = [
    frameHead(
      body,
      context.sections.map((s) => s.byteLength),
      alignLog2,
    ),
  ];
  for (const section of context.sections) {
    parts.push(section);
    const pad = sectionPadding(section.byteLength, alignLog2);
    if (pad.byteLength > 0) parts.push(pad);
  }
  return parts;
}

/** Encodes `value` into one buffer (the concatenation of `encodeParts`). */
export function encode(value: unknown, options: EncodeOptions = {}): Uint8Array {
  return concatParts(encodeParts(value, options));
}

export function concatParts(parts: readonly Uint8Array[]): Uint8Array {
  if (parts.length === 1) return parts[0] as Uint8Array;
  let total = 0;
  for (const part of parts) total += part.byteLength;
  // Unpooled memory starts at offset 0, so sections land 8-byte aligned and decode as views. It is
  // not zero-filled (that would cost as much as the copy): every byte, padding included, is written below.
  const slow = Buffer.allocUnsafeSlow(total);
  const out = new Uint8Array(slow.buffer, slow.byteOffset, total);
  let pos = 0;
  for (const part of parts) {
    out.set(part, pos);
    pos += part.byteLength;
  }
  return out;
}
