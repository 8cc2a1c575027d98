import { WireError } from "./errors.js";

/** The element types that travel as raw little-endian bytes. */
export type DType = "int8" | "uint8" | "int16" | "uint16" | "int32" | "uint32" | "float32" | "float64" | "bigint64";

export type TypedArray = Int8Array | Uint8Array | Int16Array | Uint16Array | Int32Array | Uint32Array | Float32Array | Float64Array | BigInt64Array;

type TypedArrayClass = {
  new (length: number): TypedArray;
  new (buffer: ArrayBufferLike, byteOffset: number, length: number): TypedArray;
  readonly BYTES_PER_ELEMENT: number;
};

export interface DTypeInfo {
  readonly name: DType;
  /** One-byte code used inside the typed-array extensions (docs/protocol.md §dtypes). */
  readonly code: number;
  readonly itemSize: number;
  readonly ctor: TypedArrayClass;
}

const TABLE: readonly DTypeInfo[] = [
  { name: "int8", code: 1, itemSize: 1, ctor: Int8Array },
  { name: "uint8", code: 2, itemSize: 1, ctor: Uint8Array },
  { name: "int16", code: 3, itemSize: 2, ctor: Int16Array },
  { name: "uint16", code: 4, itemSize: 2, ctor: Uint16Array },
  { name: "int32", code: 5, itemSize: 4, ctor: Int32Array },
  { name: "uint32", code: 6, itemSize: 4, ctor: Uint32Array },
  { name: "float32", code: 7, itemSize: 4, ctor: Float32Array },
  { name: "float64", code: 8, itemSize: 8, ctor: Float64Array },
  { name: "bigint64", code: 9, itemSize: 8, ctor: BigInt64Array },
];

const BY_NAME = new Map<string, DTypeInfo>(TABLE.map((d) => [d.name, d]));
const BY_CODE = new Map<number, DTypeInfo>(TABLE.map((d) => [d.code, d]));
const BY_CTOR = new Map<unknown, DTypeInfo>(TABLE.map((d) => [d.ctor, d]));

export const DTYPES: readonly DType[] = TABLE.map((d) => d.name);

export function dtypeByCode(code: number): DTypeInfo | undefined {
  return BY_CODE.get(code);
}

export function dtypeByName(name: string): DTypeInfo | undefined {
  return BY_NAME.get(name);
}

/** The dtype of a typed array of one of the supported classes (exact class or subclass such as Buffer). */
export function dtypeOf(value: ArrayBufferView): DTypeInfo | undefined {
  let proto: unknown = Object.getPrototypeOf(value);
  while (proto !== null && proto !== undefined) {
    const info = BY_CTOR.get((proto as { constructor?: unknown }).constructor);
    if (info) return info;
    proto = Object.getPrototypeOf(proto);
  }
  return undefined;
}

export function requireDType(name: unknown, where: Record<string, unknown>): DTypeInfo {
  const info = typeof name === "string" ? BY_NAME.get(name) : undefined;
  if (!info) {
    throw new WireError("ERR_WIRE_UNKNOWN_DTYPE", `unknown dtype ${JSON.stringify(String(name)).slice(0, 40)}${at(where)}`, {
      ...where,
      dtype: String(name).slice(0, 40),
    });
  }
  return info;
}

/** " at offset N" suffix shared by decode-time messages. */
export function at(where: Record<string, unknown>): string {
  const parts: string[] = [];
  if (typeof where.offset === "number") parts.push(`offset ${where.offset}`);
  if (typeof where.path === "string") parts.push(`path ${where.path}`);
  return parts.length ? ` at ${parts.join(", ")}` : "";
}

// Typed arrays are written in host order; all supported hosts (x64, arm64) are little-endian.
export const HOST_IS_LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

/**
 * A typed array of `info` over `bytes`: a view when the bytes are aligned for the element size,
 * otherwise one copy into fresh aligned memory. No per-element loop either way.
 */
export function typedArrayFromBytes(info: DTypeInfo, bytes: Uint8Array): TypedArray {
  if (!HOST_IS_LITTLE_ENDIAN) {
    throw new WireError("ERR_WIRE_UNSUPPORTED_VALUE", "typed arrays need a little-endian host", {});
  }
  const length = bytes.byteLength / info.itemSize;
  if (bytes.byteOffset % info.itemSize === 0) return new info.ctor(bytes.buffer, bytes.byteOffset, length);
  const copy = new Uint8Array(bytes.byteLength);
  copy.set(bytes);
  return new info.ctor(copy.buffer, 0, length);
}

export function bytesOf(value: ArrayBufferView): Uint8Array {
  return new Uint8Array(value.buffer, value.byteOffset, value.byteLength);
}
