import { type Decoder, type Encoder, ExtData, decodeTimestampExtension, encodeTimestampExtension, type ExtensionCodecType } from "@msgpack/msgpack";
import { WireError, isWireError } from "./errors.js";
import { bytesOf, dtypeByCode, dtypeOf, typedArrayFromBytes, HOST_IS_LITTLE_ENDIAN, type DTypeInfo } from "./dtype.js";
import { typeByCode, typeOfValue } from "./registry.js";
import { EXT_SECTION_ARRAY, EXT_TIMESTAMP, EXT_TYPED_ARRAY, SECTION_ARRAY_PAYLOAD_BYTES } from "./codes.js";

/** State of one `encode` call, shared by the nested encoders of registered types. */
export interface EncodeContext {
  readonly sections: Uint8Array[];
  readonly sectionThreshold: number;
  readonly maxDepth: number;
  /** How many registered types enclose the value being encoded; bounds cycles through decompose. */
  nesting: number;
  encoder?: Encoder<CodecContext>;
}

/** State of one `decode` call, shared by the nested decoders of registered types. */
export interface DecodeContext {
  readonly sections: readonly Uint8Array[];
  /** Where offsets are counted from (the start of the caller's message). */
  readonly message: Uint8Array;
  decoder?: Decoder<CodecContext>;
}

export type CodecContext = EncodeContext | DecodeContext;

function isPlainObject(value: object): boolean {
  const proto: unknown = Object.getPrototypeOf(value);
  return proto === Object.prototype || proto === null;
}

function unsupported(value: unknown): never {
  const kind = typeof value === "object" && value !== null ? Object.prototype.toString.call(value) : typeof value;
  const ctorName = typeof value === "object" && value !== null ? (value as { constructor?: { name?: unknown } }).constructor?.name : undefined;
  throw new WireError(
    "ERR_WIRE_UNSUPPORTED_VALUE",
    `cannot encode ${typeof ctorName === "string" && ctorName ? ctorName : kind}: register it with registerType`,
    { kind, className: typeof ctorName === "string" ? ctorName : undefined },
  );
}

function encodeTypedArray(value: ArrayBufferView, info: DTypeInfo, context: EncodeContext): ExtData | null {
  if (!HOST_IS_LITTLE_ENDIAN) throw new WireError("ERR_WIRE_UNSUPPORTED_VALUE", "typed arrays need a little-endian host", {});
  const bytes = bytesOf(value);
  if (bytes.byteLength >= context.sectionThreshold) {
    const payload = new Uint8Array(SECTION_ARRAY_PAYLOAD_BYTES);
    payload[0] = info.code;
    new DataView(payload.buffer).setUint32(1, context.sections.length, true);
    context.sections.push(bytes);
    return new ExtData(EXT_SECTION_ARRAY, payload);
  }
  if (info.name === "uint8") return null; // plain MessagePack bin
  const payload = new Uint8Array(1 + bytes.byteLength);
  payload[0] = info.code;
  payload.set(bytes, 1);
  return new ExtData(EXT_TYPED_ARRAY, payload);
}

function offsetIn(context: DecodeContext, data: Uint8Array): number {
  return data.byteOffset - context.message.byteOffset;
}

/**
 * The extension codec: decides, for every non-primitive value, whether it is native MessagePack,
 * a typed array, or a registered type, and refuses everything else. It never looks anything up by
 * a name taken from the wire beyond comparing it with the registered name of the code.
 */
export const cohortCodec: ExtensionCodecType<CodecContext> = {
  tryToEncode(value: unknown, ctx: CodecContext): ExtData | null {
    const context = ctx as EncodeContext;
    if (typeof value === "object" && value !== null) {
      if (Array.isArray(value) || isPlainObject(value)) return null;
      if (value instanceof Date) {
        if (Number.isNaN(value.getTime())) throw new WireError("ERR_WIRE_UNSUPPORTED_VALUE", "cannot encode an invalid Date", {});
        return new ExtData(EXT_TIMESTAMP, encodeTimestampExtension(value) as Uint8Array);
      }
      if (ArrayBuffer.isView(value)) {
        const info = dtypeOf(value);
        if (!info || value instanceof DataView) unsupported(value);
        return encodeTypedArray(value, info, context);
      }
    }
    const type = typeof value === "object" || typeof value === "bigint" ? typeOfValue(value as object) : undefined;
    if (!type) unsupported(value);
    if (++context.nesting > context.maxDepth) {
      throw new WireError("ERR_WIRE_TOO_DEEP", `registered types nested deeper than ${context.maxDepth} (a cycle?)`, { typeName: type.name });
    }
    try {
      const payload = (context.encoder as Encoder<CodecContext>).encode([type.name, type.decompose(value)]);
      return new ExtData(type.code, payload);
    } finally {
      context.nesting--;
    }
  },

  decode(data: Uint8Array, extType: number, ctx: CodecContext): unknown {
    const context = ctx as DecodeContext;
    if (extType === EXT_TIMESTAMP) return decodeTimestampExtension(data);
    // The scanner has already checked dtype codes, lengths and section references.
    if (extType === EXT_TYPED_ARRAY) return typedArrayFromBytes(dtypeByCode(data[0] as number) as DTypeInfo, data.subarray(1));
    if (extType === EXT_SECTION_ARRAY) {
      const section = context.sections[new DataView(data.buffer, data.byteOffset, data.byteLength).getUint32(1, true)];
      return typedArrayFromBytes(dtypeByCode(data[0] as number) as DTypeInfo, section as Uint8Array);
    }
    const type = typeByCode(extType);
    if (!type) {
      throw new WireError("ERR_WIRE_UNKNOWN_TYPE", `extension code ${extType} is not registered at offset ${offsetIn(context, data)}`, {
        extCode: extType,
        offset: offsetIn(context, data),
      });
    }
    const [, state] = (context.decoder as Decoder<CodecContext>).decode(data) as [string, unknown];
    try {
      return type.recompose(state);
    } catch (err) {
      const offset = offsetIn(context, data);
      if (isWireError(err)) {
        throw new WireError(err.code, `${type.name}: ${err.message} (payload at offset ${offset})`, { ...err.details, typeName: type.name, offset });
      }
      throw new WireError(
        "ERR_WIRE_INVALID_VALUE",
        `${type.name}: state refused by recompose at offset ${offset}`,
        {
          typeName: type.name,
          offset,
        },
        { cause: err },
      );
    }
  },
};
