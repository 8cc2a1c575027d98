import { createHash, randomBytes } from "node:crypto";
import { WireError } from "./errors.js";
import { CHUNK_DATA, CHUNK_END, STREAM_ID_BYTES, writeChunkHeader } from "./chunk.js";

/** Payloads above this many bytes are streamed as chunks rather than sent as one message. */
export const DEFAULT_CHUNK_BYTES = 1024 * 1024;
const MAX_CHUNK_BYTES = 0xffffffff;

export interface ChunkOptions {
  /** Payload bytes per DATA chunk (default 1 MiB). */
  readonly chunkBytes?: number;
  /** 16 bytes naming the stream; random by default. */
  readonly streamId?: Uint8Array;
  /**
   * The running digest sent in the END chunk; SHA-256 by default. The transport passes a keyed
   * HMAC-SHA256 so that the same single pass both checks and authenticates the payload.
   */
  readonly digest?: () => StreamDigest;
}

/** What a stream digest needs: node:crypto's Hash and Hmac both fit. Must produce 32 bytes. */
export interface StreamDigest {
  update(data: Uint8Array): unknown;
  digest(): Buffer;
}

export interface OutgoingStream {
  readonly streamId: string; // hex, as the receiver reports it
  readonly totalBytes: number;
  /**
   * The chunks, each as buffers to write in order (header, then views of the payload: nothing is
   * copied). The SHA-256 is computed as the DATA chunks pass and sent in the final END chunk, so the
   * payload is read once. Iterate once.
   */
  readonly chunks: Iterable<Uint8Array[]>;
}

export function needsStreaming(byteLength: number, chunkBytes = DEFAULT_CHUNK_BYTES): boolean {
  return byteLength > chunkBytes;
}

/** Splits `payload` (one buffer or the parts from `encodeParts`) into a stream of chunks. */
export function chunkPayload(payload: Uint8Array | readonly Uint8Array[], options: ChunkOptions = {}): OutgoingStream {
  const parts = payload instanceof Uint8Array ? [payload] : [...payload];
  const chunkBytes = options.chunkBytes ?? DEFAULT_CHUNK_BYTES;
  if (!Number.isInteger(chunkBytes) || chunkBytes < 1 || chunkBytes > MAX_CHUNK_BYTES) {
    throw new WireError("ERR_WIRE_INVALID_VALUE", `chunkBytes must be an integer in 1..${MAX_CHUNK_BYTES}`, { chunkBytes });
  }
  const idBytes = options.streamId ?? randomBytes(STREAM_ID_BYTES);
  if (idBytes.byteLength !== STREAM_ID_BYTES) {
    throw new WireError("ERR_WIRE_INVALID_VALUE", `streamId must be ${STREAM_ID_BYTES} bytes`, {});
  }
  const totalBytes = parts.reduce((sum, p) => sum + p.byteLength, 0);
  return {
    streamId: Buffer.from(idBytes.buffer, idBytes.byteOffset, idBytes.byteLength).toString("hex"),
    totalBytes,
    chunks: generateChunks(parts, totalBytes, chunkBytes, idBytes, options.digest?.() ?? createHash("sha256")),
  };
}

function* generateChunks(
  parts: readonly Uint8Array[],
  totalBytes: number,
  chunkBytes: number,
  idBytes: Uint8Array,
  hash: StreamDigest,
): Generator<Uint8Array[]> {
  let index = 0;
  let partIndex = 0;
  let partOffset = 0;
  for (let sent = 0; sent < totalBytes; index++) {
    const size = Math.min(chunkBytes, totalBytes - sent);
    const chunk: Uint8Array[] = [writeChunkHeader({ kind: CHUNK_DATA, index, payloadBytes: size, totalBytes }, idBytes)];
    for (let need = size; need > 0; ) {
      const part = parts[partIndex] as Uint8Array;
      const take = Math.min(need, part.byteLength - partOffset);
      if (take > 0) {
        const view = part.subarray(partOffset, partOffset + take);
        hash.update(view);
        chunk.push(view);
      }
      need -= take;
      partOffset += take;
      if (partOffset === part.byteLength) {
        partIndex++;
        partOffset = 0;
      }
    }
    sent += size;
    yield chunk;
  }
  const digest = hash.digest();
  yield [writeChunkHeader({ kind: CHUNK_END, index, payloadBytes: digest.byteLength, totalBytes }, idBytes), new Uint8Array(digest)];
}
