import { createHash, timingSafeEqual } from "node:crypto";
import { rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { WireError, isWireError, type WireErrorCode } from "./errors.js";
import { CHUNK_DATA, CHUNK_HEADER_BYTES, DIGEST_BYTES, readChunkHeader, type ChunkHeader } from "./chunk.js";
import { FileSink, MemorySink, makeSpillDir, type CompletedBytes, type StreamSink } from "./stream-sink.js";
import { DEFAULT_CHUNK_BYTES, type StreamDigest } from "./stream-sender.js";

export interface StreamReceiverOptions {
  /** Bytes one peer may have in flight across all its streams (default 512 MiB). */
  readonly peerQuotaBytes?: number;
  /** Streams declaring more than this go to a file instead of memory (default 64 MiB). */
  readonly memoryThresholdBytes?: number;
  /** Parent directory of the private spill directory (default the OS temp dir). */
  readonly spillDir?: string;
  /** A stream with no chunk for this long is failed and freed (default 30 s). */
  readonly idleTimeoutMs?: number;
  /** Largest DATA chunk payload accepted (default 4 x the 1 MiB default chunk). */
  readonly maxChunkBytes?: number;
  /** Streams one peer may have open at once (default 8). */
  readonly maxStreamsPerPeer?: number;
  /** Clock in milliseconds; tests pass a fake one. */
  readonly now?: () => number;
  /** The digest each stream of `peer` is checked with (SHA-256 by default; the transport passes a keyed HMAC). */
  readonly digestFor?: (peer: string) => StreamDigest;
  /** Told about streams failed by `sweep` (timeouts), which no `accept` call reports. */
  readonly onStreamFailed?: (failure: { peer: string; streamId: string; error: WireError }) => void;
}

export interface CompletedStream extends CompletedBytes {
  readonly peer: string;
  readonly streamId: string;
  readonly byteLength: number;
  /** Hex SHA-256 of the payload, as checked against the sender's END chunk. */
  readonly sha256: string;
}

interface OpenStream {
  readonly streamId: string;
  readonly totalBytes: number;
  readonly sink: StreamSink;
  readonly hash: StreamDigest;
  nextIndex: number;
  receivedBytes: number;
  lastActivity: number;
}

/**
 * Reassembles streamed payloads, one transport-independent `accept(peer, chunk)` call per chunk.
 * It trusts a sender's declared size only up to the per-peer quota, checks order, size and the
 * SHA-256 as bytes pass (one pass, one copy into a buffer or file of the declared size), and frees
 * everything of a stream that fails or goes idle.
 */
export class StreamReceiver {
  private readonly peers = new Map<string, Map<string, OpenStream>>();
  private readonly reserved = new Map<string, number>();
  private readonly options: Required<Omit<StreamReceiverOptions, "onStreamFailed" | "spillDir" | "digestFor">> & StreamReceiverOptions;
  private spillDir: string | undefined;
  private timer: NodeJS.Timeout | undefined;
  private closed = false;

  constructor(options: StreamReceiverOptions = {}) {
    this.options = {
      peerQuotaBytes: 512 * 1024 * 1024,
      memoryThresholdBytes: 64 * 1024 * 1024,
      idleTimeoutMs: 30_000,
      maxChunkBytes: 4 * DEFAULT_CHUNK_BYTES,
      maxStreamsPerPeer: 8,
      now: Date.now,
      ...options,
    };
  }

  /**
   * Takes one chunk from `peer` (the authenticated identity the transport vouches for). Returns the
   * completed stream after its END chunk, otherwise undefined. Throws a WireError for a bad chunk,
   * after freeing the stream it belonged to.
   */
  accept(peer: string, chunk: Uint8Array): CompletedStream | undefined {
    if (this.closed) throw new WireError("ERR_WIRE_STREAM_CLOSED", "stream receiver is closed", { peer });
    const header = readChunkHeader(chunk);
    const payload = chunk.subarray(CHUNK_HEADER_BYTES);
    const streams = this.peers.get(peer);
    let stream = streams?.get(header.streamId);
    try {
      if (!stream) stream = this.open(peer, header);
      this.check(stream, header);
      stream.lastActivity = this.options.now();
      if (header.kind === CHUNK_DATA) {
        this.write(stream, header, payload);
        return undefined;
      }
      return this.finish(peer, stream, header, payload);
    } catch (err) {
      if (stream) this.drop(peer, stream);
      throw isWireError(err)
        ? err
        : new WireError("ERR_WIRE_STREAM_INCOMPLETE", `stream ${header.streamId} failed to store a chunk`, { peer, streamId: header.streamId }, { cause: err });
    }
  }

  /**
   * For a DATA chunk whose 40-byte header has arrived but whose `payloadBytes` have not: where the
   * payload can be written in place (an open in-memory stream, next in order, within limits), and
   * `commit` to call once it is all there (it digests and counts it, as `accept` would). Nothing
   * changes before `commit`. Undefined for anything else, which then goes through `accept`.
   */
  reserve(peer: string, chunkHeader: Uint8Array, payloadBytes: number): { target: Uint8Array; commit(): void } | undefined {
    if (this.closed) return undefined;
    let header: ChunkHeader;
    try {
      header = readChunkHeader(chunkHeader, payloadBytes);
    } catch {
      return undefined;
    }
    const stream = this.peers.get(peer)?.get(header.streamId);
    if (!stream || header.kind !== CHUNK_DATA || header.totalBytes !== stream.totalBytes || header.index !== stream.nextIndex) return undefined;
    if (payloadBytes > this.options.maxChunkBytes || payloadBytes > stream.totalBytes - stream.receivedBytes) return undefined;
    const target = stream.sink.reserve?.(stream.receivedBytes, payloadBytes);
    if (!target) return undefined;
    return {
      target,
      commit: () => {
        // The stream may have failed (timeout, close) while the payload arrived.
        if (this.peers.get(peer)?.get(header.streamId) !== stream || stream.nextIndex !== header.index) {
          throw new WireError("ERR_WIRE_STREAM_UNKNOWN", `stream ${header.streamId} from ${peer} ended while chunk ${header.index} arrived`, {
            peer,
            streamId: header.streamId,
            index: header.index,
          });
        }
        stream.lastActivity = this.options.now();
        this.write(stream, header, target);
      },
    };
  }

  /** Fails and frees every stream idle longer than the timeout; returns how many. */
  sweep(): number {
    const now = this.options.now();
    let expired = 0;
    for (const [peer, streams] of this.peers) {
      for (const stream of [...streams.values()]) {
        if (now - stream.lastActivity <= this.options.idleTimeoutMs) continue;
        this.drop(peer, stream);
        expired++;
        const error = new WireError("ERR_WIRE_STREAM_TIMEOUT", `stream ${stream.streamId} from ${peer} idle for more than ${this.options.idleTimeoutMs} ms`, {
          peer,
          streamId: stream.streamId,
          receivedBytes: stream.receivedBytes,
        });
        this.options.onStreamFailed?.({ peer, streamId: stream.streamId, error });
      }
    }
    return expired;
  }

  /** Sweeps on a timer (unref'd, so it never keeps the process alive) until `close`. */
  start(intervalMs = Math.max(100, Math.floor(this.options.idleTimeoutMs / 4))): void {
    if (this.timer || this.closed) return;
    this.timer = setInterval(() => this.sweep(), intervalMs);
    this.timer.unref();
  }

  /** Bytes reserved and streams open for `peer`. */
  usage(peer: string): { streams: number; reservedBytes: number } {
    return { streams: this.peers.get(peer)?.size ?? 0, reservedBytes: this.reserved.get(peer) ?? 0 };
  }

  /** Frees every open stream and the spill directory; further chunks are refused. */
  close(): void {
    this.closed = true;
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    for (const [peer, streams] of this.peers) for (const stream of [...streams.values()]) this.drop(peer, stream);
    if (this.spillDir) rmSync(this.spillDir, { recursive: true, force: true });
    this.spillDir = undefined;
  }

  private open(peer: string, header: ChunkHeader): OpenStream {
    const fail = (code: WireErrorCode, what: string, extra: Record<string, unknown> = {}): never => {
      throw new WireError(code, `stream ${header.streamId} from ${peer}: ${what}`, { peer, streamId: header.streamId, ...extra });
    };
    if (header.index !== 0)
      fail("ERR_WIRE_STREAM_UNKNOWN", `chunk ${header.index} of a stream that is not open (first chunk missing, or the stream failed)`, {
        index: header.index,
      });
    const streams = this.peers.get(peer) ?? new Map<string, OpenStream>();
    if (streams.size >= this.options.maxStreamsPerPeer)
      fail("ERR_WIRE_STREAM_QUOTA", `peer already has ${streams.size} open streams`, { maxStreams: this.options.maxStreamsPerPeer });
    const reserved = this.reserved.get(peer) ?? 0;
    if (header.totalBytes > this.options.peerQuotaBytes - reserved) {
      fail("ERR_WIRE_STREAM_QUOTA", `declared ${header.totalBytes} bytes exceed the ${this.options.peerQuotaBytes - reserved} bytes left of the peer's quota`, {
        declaredBytes: header.totalBytes,
        quotaBytes: this.options.peerQuotaBytes,
        reservedBytes: reserved,
      });
    }
    const sink = header.totalBytes > this.options.memoryThresholdBytes ? new FileSink(this.ensureSpillDir()) : new MemorySink(header.totalBytes);
    const stream: OpenStream = {
      streamId: header.streamId,
      totalBytes: header.totalBytes,
      sink,
      hash: this.options.digestFor?.(peer) ?? createHash("sha256"),
      nextIndex: 0,
      receivedBytes: 0,
      lastActivity: this.options.now(),
    };
    streams.set(header.streamId, stream);
    this.peers.set(peer, streams);
    this.reserved.set(peer, reserved + header.totalBytes);
    return stream;
  }

  private check(stream: OpenStream, header: ChunkHeader): void {
    const where = { streamId: stream.streamId, index: header.index, expected: stream.nextIndex };
    if (header.totalBytes !== stream.totalBytes) {
      throw new WireError(
        "ERR_WIRE_MALFORMED",
        `stream ${stream.streamId}: chunk ${header.index} declares ${header.totalBytes} total bytes, the stream ${stream.totalBytes}`,
        where,
      );
    }
    if (header.index !== stream.nextIndex) {
      const what = header.index < stream.nextIndex ? "duplicate" : "out-of-order (earlier chunk missing)";
      throw new WireError("ERR_WIRE_STREAM_ORDER", `stream ${stream.streamId}: ${what} chunk ${header.index}, expected ${stream.nextIndex}`, where);
    }
  }

  private write(stream: OpenStream, header: ChunkHeader, payload: Uint8Array): void {
    const where = { streamId: stream.streamId, index: header.index, receivedBytes: stream.receivedBytes, declaredBytes: stream.totalBytes };
    if (payload.byteLength > this.options.maxChunkBytes) {
      throw new WireError(
        "ERR_WIRE_STREAM_SIZE",
        `stream ${stream.streamId}: chunk ${header.index} of ${payload.byteLength} bytes exceeds ${this.options.maxChunkBytes}`,
        where,
      );
    }
    if (payload.byteLength > stream.totalBytes - stream.receivedBytes) {
      throw new WireError("ERR_WIRE_STREAM_SIZE", `stream ${stream.streamId}: chunk ${header.index} runs past the declared ${stream.totalBytes} bytes`, where);
    }
    stream.sink.write(payload, stream.receivedBytes);
    stream.hash.update(payload);
    stream.receivedBytes += payload.byteLength;
    stream.nextIndex++;
  }

  private finish(peer: string, stream: OpenStream, header: ChunkHeader, digest: Uint8Array): CompletedStream {
    if (stream.receivedBytes !== stream.totalBytes) {
      throw new WireError("ERR_WIRE_STREAM_INCOMPLETE", `stream ${stream.streamId}: ended after ${stream.receivedBytes} of ${stream.totalBytes} bytes`, {
        streamId: stream.streamId,
        receivedBytes: stream.receivedBytes,
        declaredBytes: stream.totalBytes,
      });
    }
    const actual = stream.hash.digest();
    if (digest.byteLength !== DIGEST_BYTES || !timingSafeEqual(actual, digest)) {
      throw new WireError("ERR_WIRE_STREAM_INTEGRITY", `stream ${stream.streamId}: SHA-256 of the received bytes does not match the sender's`, {
        streamId: stream.streamId,
        index: header.index,
      });
    }
    this.release(peer, stream);
    return { ...stream.sink.finish(), peer, streamId: stream.streamId, byteLength: stream.totalBytes, sha256: actual.toString("hex") };
  }

  /** Forgets a stream and returns its quota, discarding what it stored. */
  private drop(peer: string, stream: OpenStream): void {
    if (this.release(peer, stream)) stream.sink.discard();
  }

  private release(peer: string, stream: OpenStream): boolean {
    const streams = this.peers.get(peer);
    if (!streams?.delete(stream.streamId)) return false;
    if (streams.size === 0) this.peers.delete(peer);
    const left = (this.reserved.get(peer) ?? 0) - stream.totalBytes;
    if (left > 0) this.reserved.set(peer, left);
    else this.reserved.delete(peer);
    return true;
  }

  private ensureSpillDir(): string {
    this.spillDir ??= makeSpillDir(this.options.spillDir ?? tmpdir());
    return this.spillDir;
  }
}
