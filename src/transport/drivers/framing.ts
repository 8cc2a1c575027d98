/**
 * Length-prefixed frames for the tcp driver: a 4-byte big-endian length, then that many bytes.
 * Decoding is zero-copy when a frame lies within one chunk (a view of the chunk) and copies once
 * into a buffer of the announced size otherwise, or, for a large frame a placer takes, into the
 * place it names. The length is checked before any allocation.
 */
import type { FramePlacement, FramePlacer } from "../driver.js";
import { LinkErrorCode, linkError } from "./errors.js";

export const FRAME_HEADER_BYTES = 4;

export function frameHeader(size: number): Buffer {
  const header = Buffer.allocUnsafe(FRAME_HEADER_BYTES);
  header.writeUInt32BE(size, 0);
  return header;
}

/** What the decoder does with a frame that spans several reads when a placer is set. */
export interface FrameSink {
  /** The start of the frame has arrived: where does the rest go? */
  place(head: Uint8Array, frameBytes: number): FramePlacement | undefined;
  /** The current placer (none during the link handshake, before login, or on drivers' choice). */
  placer(): FramePlacer | undefined;
}

export class FrameDecoder {
  private readonly header = Buffer.alloc(FRAME_HEADER_BYTES);
  private headerFill = 0;
  private body: Buffer | undefined;
  private bodyFill = 0;
  /** Collecting the start of a large frame for the placer (`body` holds it, `headTarget` bytes). */
  private headTarget = 0;
  private placed: { placement: FramePlacement; fill: number } | undefined;
  private frameSize = 0;
  private stopped = false;

  /** Frames above this are refused (changeable: a small limit during the link handshake). */
  constructor(
    public maxFrameBytes: number,
    private readonly sink?: FrameSink,
  ) {}

  /** Stops decoding (the rest of the current chunk is dropped): the connection is closing. */
  stop(): void {
    this.stopped = true;
    this.body = undefined;
    this.placed = undefined;
  }

  /** Feeds one chunk; calls `emit` for each whole frame. Throws ERR_LINK_FRAME_TOO_LARGE. */
  push(chunk: Buffer, emit: (frame: Uint8Array) => void): void {
    let offset = 0;
    let placer: FramePlacer | undefined;
    const end = chunk.length;
    while (offset < end && !this.stopped) {
      if (this.placed !== undefined) {
        const { placement } = this.placed;
        const take = Math.min(placement.target.byteLength - this.placed.fill, end - offset);
        placement.target.set(chunk.subarray(offset, offset + take), this.placed.fill);
        this.placed.fill += take;
        offset += take;
        if (this.placed.fill === placement.target.byteLength) {
          this.placed = undefined;
          placement.complete();
        }
        continue;
      }
      if (this.body !== undefined && this.headTarget > 0) {
        const take = Math.min(this.headTarget - this.bodyFill, end - offset);
        chunk.copy(this.body, this.bodyFill, offset, offset + take);
        this.bodyFill += take;
        offset += take;
        if (this.bodyFill === this.headTarget) this.placeHead();
        continue;
      }
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
        throw linkError(LinkErrorCode.FrameTooLarge, `received a frame of ${size} bytes, above maxFrameBytes ${this.maxFrameBytes}`, {
          size,
          max: this.maxFrameBytes,
        });
      }
      if (end - offset >= size) {
        emit(chunk.subarray(offset, offset + size));
        offset += size;
      } else if ((placer = this.sink?.placer()) && size >= placer.minFrameBytes && size > placer.headBytes) {
        // Gather the start first: the placer decides from it where the rest goes.
        this.headTarget = placer.headBytes;
        this.body = Buffer.allocUnsafe(this.headTarget);
        this.bodyFill = 0;
        this.frameSize = size;
      } else {
        this.body = Buffer.allocUnsafe(size);
        this.bodyFill = 0;
      }
    }
  }

  /** The head of a large frame is complete: place the rest, or fall back to a whole-frame buffer. */
  private placeHead(): void {
    const head = this.body as Buffer;
    this.headTarget = 0;
    const placement = this.sink?.place(head, this.frameSize);
    if (this.stopped) return; // the placer failed the connection
    if (placement && placement.offset <= head.length && placement.target.byteLength === this.frameSize - placement.offset) {
      this.body = undefined;
      placement.target.set(head.subarray(placement.offset), 0);
      this.placed = { placement, fill: head.length - placement.offset };
      if (this.placed.fill === placement.target.byteLength) {
        this.placed = undefined;
        placement.complete();
      }
      return;
    }
    this.body = Buffer.allocUnsafe(this.frameSize);
    head.copy(this.body, 0);
    this.bodyFill = head.length;
  }
}
