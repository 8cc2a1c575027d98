import { WireError } from "./errors.js";

/**
 * Chunk header of a streamed payload (docs/protocol.md, "Streaming"). 40 bytes, little-endian,
 * followed by the chunk payload: a slice of the stream for DATA, the SHA-256 of the whole stream
 * for END.
 */
export const CHUNK_MAGIC = Uint8Array.of(0xc1, 0x43, 0x53, 0x43); // 0xC1 "CSC"
export const CHUNK_VERSION = 1;
export const CHUNK_HEADER_BYTES = 40;
export const STREAM_ID_BYTES = 16;
export const DIGEST_BYTES = 32;
export const CHUNK_DATA = 1;
export const CHUNK_END = 2;

export interface ChunkHeader {
  readonly kind: typeof CHUNK_DATA | typeof CHUNK_END;
  readonly streamId: string; // hex
  readonly index: number;
  readonly payloadBytes: number;
  readonly totalBytes: number;
}

export function writeChunkHeader(header: Omit<ChunkHeader, "streamId">, idBytes: Uint8Array): Uint8Array {
  const out = new Uint8Array(CHUNK_HEADER_BYTES);
  const view = new DataView(out.buffer);
  out.set(CHUNK_MAGIC, 0);
  view.setUint8(4, CHUNK_VERSION);
  view.setUint8(5, header.kind);
  out.set(idBytes, 8);
  view.setUint32(24, header.index, true);
  view.setUint32(28, header.payloadBytes, true);
  view.setBigUint64(32, BigInt(header.totalBytes), true);
  return out;
}

function malformed(what: string, offset: number): never {
  throw new WireError("ERR_WIRE_MALFORMED", `chunk: ${what} at offset ${offset}`, { offset });
}

/**
 * Parses and checks the header of `chunk`; the payload is `chunk.subarray(CHUNK_HEADER_BYTES)`, or,
 * when `payloadBytes` is given, `chunk` may be the header alone and the payload that many bytes
 * that have not arrived yet.
 */
export function readChunkHeader(chunk: Uint8Array, payloadBytes = chunk.byteLength - CHUNK_HEADER_BYTES): ChunkHeader {
  if (!(chunk instanceof Uint8Array)) throw new WireError("ERR_WIRE_INVALID_VALUE", "a chunk must be a Uint8Array", {});
  if (chunk.byteLength < CHUNK_HEADER_BYTES) {
    throw new WireError("ERR_WIRE_TRUNCATED", `chunk of ${chunk.byteLength} bytes is shorter than its ${CHUNK_HEADER_BYTES}-byte header`, { offset: 0 });
  }
  for (let i = 0; i < CHUNK_MAGIC.length; i++) if (chunk[i] !== CHUNK_MAGIC[i]) malformed("bad magic", i);
  const view = new DataView(chunk.buffer, chunk.byteOffset, chunk.byteLength);
  if (view.getUint8(4) !== CHUNK_VERSION) malformed(`unsupported version ${view.getUint8(4)}`, 4);
  const kind = view.getUint8(5);
  if (kind !== CHUNK_DATA && kind !== CHUNK_END) malformed(`unknown chunk kind ${kind}`, 5);
  if (view.getUint16(6, true) !== 0) malformed("reserved bytes are not zero", 6);
  const declared = view.getUint32(28, true);
  if (declared !== payloadBytes) {
    throw new WireError("ERR_WIRE_TRUNCATED", `chunk declares ${declared} payload bytes but carries ${payloadBytes}`, { offset: 28 });
  }
  const high = view.getUint32(36, true);
  if (high > 0x1fffff) malformed("total length beyond 2^53", 32);
  return {
    kind,
    streamId: Buffer.from(chunk.buffer, chunk.byteOffset + 8, STREAM_ID_BYTES).toString("hex"),
    index: view.getUint32(24, true),
    payloadBytes,
    totalBytes: high * 2 ** 32 + view.getUint32(32, true),
  };
}
