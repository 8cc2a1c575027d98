import { Decoder } from "@msgpack/msgpack";
import { WireError, isWireError } from "./errors.js";
import { cohortCodec, type DecodeContext, type CodecContext } from "./codec.js";
import { isFrame, parseFrame } from "./frame.js";
import { BodyScanner } from "./scan.js";
import { resolveDecodeLimits, type DecodeLimits } from "./limits.js";
import { FORBIDDEN_KEYS } from "./codes.js";

export type DecodeOptions = Partial<DecodeLimits>;

function stringKey(key: unknown): string {
  // The scanner refuses these first; this keeps the decoder safe even on its own.
  if (typeof key !== "string") throw new WireError("ERR_WIRE_KEY_TYPE", "map key is not a string", {});
  if (FORBIDDEN_KEYS.has(key)) throw new WireError("ERR_WIRE_FORBIDDEN_KEY", `forbidden map key "${key}"`, { key });
  return key;
}

/**
 * Decodes what `encode` produced, or plain MessagePack from any library. Large arrays come back as
 * views into `bytes` (copy them if the buffer will be reused). Every refusal is a WireError; nothing
 * else escapes.
 */
export function decode(bytes: Uint8Array, options?: DecodeOptions): unknown {
  if (!(bytes instanceof Uint8Array)) {
    throw new WireError("ERR_WIRE_INVALID_VALUE", "decode expects a Uint8Array", { kind: typeof bytes });
  }
  const limits = resolveDecodeLimits(options);
  if (bytes.byteLength > limits.maxMessageBytes) {
    throw new WireError("ERR_WIRE_TOO_LARGE", `message of ${bytes.byteLength} bytes exceeds the maximum of ${limits.maxMessageBytes}`, {
      byteLength: bytes.byteLength,
      maxMessageBytes: limits.maxMessageBytes,
    });
  }
  if (bytes.byteLength === 0) throw new WireError("ERR_WIRE_TRUNCATED", "empty message at offset 0", { offset: 0, path: "$" });
  try {
    const frame = isFrame(bytes) ? parseFrame(bytes) : { body: bytes, bodyOffset: 0, sections: [] };
    new BodyScanner(
      frame.body,
      frame.bodyOffset,
      limits.maxDepth,
      frame.sections.map((s) => s.byteLength),
    ).scan();
    const context: DecodeContext = { sections: frame.sections, message: bytes };
    const decoder = new Decoder<CodecContext>({
      extensionCodec: cohortCodec,
      context,
      useBigInt64: false,
      mapKeyConverter: stringKey,
    });
    context.decoder = decoder;
    return decoder.decode(frame.body);
  } catch (err) {
    if (isWireError(err)) throw err;
    // Only reachable if the scanner and the library disagree; still a refusal, never a crash.
    throw new WireError("ERR_WIRE_MALFORMED", `undecodable message: ${err instanceof Error ? err.message : String(err)}`, {}, { cause: err });
  }
}
