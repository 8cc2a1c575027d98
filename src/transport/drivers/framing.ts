/**
 * Length-prefixed frames for the tcp driver: a 4-byte big-endian length, then that many bytes.
 * Decoding is zero-copy when a frame lies within one chunk (a view of the chunk) and copies once
 * into a buffer of the announced size otherwise. The length is checked before any allocation.
 */
import { LinkErrorCode, linkError } from "./errors.js";

export const FRAME_HEADER_BYTES = 4;

export function frameHeader(size: number): Buffer {
  const header = Buffer.allocUnsafe(FRAME_HEADER_BYTES);
  header.writeUInt32BE(size, 0);
  return header;
}

export class FrameDecoder {
  private readonly header = Buffer.alloc(FRAME_HEADER_BYTES);
  private headerFill = 0;
  private body: Buffer | undefined;
  private bodyFill = 0;
  private stopped = false;

  /** Frames above this are refused (changeable: a small limit during the link handshake). */
  constructor(public maxFrameBytes: number) {}

  /** Stops decoding (the rest of the current chunk is dropped): the connection is closing. */
  stop(): void {
    this.stopped = true;
    this.body = undefined;
  }

  /** Feeds one chunk; calls `emit` for each whole frame. Throws ERR_LINK_FRAME_TOO_LARGE. */
  push(chunk: Buffer, emit: (frame: Uint8Array) => void): void {
    let offset = 0;
    const end = chunk.length;
    while (offset < end && !this.stopped) {
      if (this.body !== undefined) {
        const take = Math.min(this.body.length - this.bodyFill, end - offset);
        chunk.copy(this.body, this.bodyFill, offset, offset + take);
        this.bodyFill += take;
        offset += take;
        if (this.bodyFill === this.body.length) {
          const frame = this.body;
          this.body = undefined;
          emit(frame);
        }
        continue;
      }
      let size: number;
      if (this.headerFill === 0 && end - offset >= FRAME_HEADER_BYTES) {
        size = chunk.readUInt32BE(offset);
        offset += FRAME_HEADER_BYTES;
      } else {
        const take = Math.min(FRAME_HEADER_BYTES - this.headerFill, end - offset);
        chunk.copy(this.header, this.headerFill, offset, offset + take);
        this.headerFill += take;
        offset += take;
        if (this.headerFill < FRAME_HEADER_BYTES) return;
        this.headerFill = 0;
        size = this.header.readUInt32BE(0);
      }
      if (size > this.maxFrameBytes) {
        this.stop();
        throw linkError(LinkErrorCode.FrameTooLarge, `received a frame of ${size} bytes, above maxFrameBytes ${this.maxFrameBytes}`, { size, max: this.maxFrameBytes });
      }
      if (end - offset >= size) {
        emit(chunk.subarray(offset, offset + size));
        offset += size;
      } else {
        this.body = Buffer.allocUnsafe(size);
        this.bodyFill = 0;
      }
    }
  }
}
