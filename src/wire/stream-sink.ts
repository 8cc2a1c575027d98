import { closeSync, mkdtempSync, openSync, readFileSync, rmSync, unlinkSync, writeSync } from "node:fs";
import { randomBytes } from "node:crypto";
import { join } from "node:path";

/** Where the bytes of one incoming stream land: memory for small streams, a private file above a threshold. */
export interface StreamSink {
  readonly location: "memory" | "file";
  write(bytes: Uint8Array, position: number): void;
  /**
   * Where `byteLength` bytes at `position` can be written in place (memory only), so that a
   * transport copies them straight from the socket; undefined when the sink cannot offer that.
   */
  reserve?(position: number, byteLength: number): Uint8Array | undefined;
  /** Hands the finished bytes over; the sink holds nothing afterwards. */
  finish(): CompletedBytes;
  /** Frees whatever the sink holds (memory reference, open file, file on disk). */
  discard(): void;
}

export interface CompletedBytes {
  readonly location: "memory" | "file";
  /** Path of the spilled file (file location only); it is deleted by `dispose`. */
  readonly path?: string;
  /** The payload: the buffer itself for memory, read from the file otherwise. */
  read(): Uint8Array;
  dispose(): void;
}

/** One allocation of exactly the declared size (already checked against the quota): one copy, no growth. */
export class MemorySink implements StreamSink {
  readonly location = "memory";
  private buffer: Uint8Array | undefined;

  constructor(byteLength: number) {
    // Not zero-filled: the stream only completes once every byte has been written.
    const slow = Buffer.allocUnsafeSlow(byteLength);
    this.buffer = new Uint8Array(slow.buffer, slow.byteOffset, byteLength);
  }

  write(bytes: Uint8Array, position: number): void {
    // Bytes already in place (see `reserve`) need no copy.
    const buffer = this.buffer as Uint8Array;
    if (bytes.buffer === buffer.buffer && bytes.byteOffset === buffer.byteOffset + position) return;
    buffer.set(bytes, position);
  }

  reserve(position: number, byteLength: number): Uint8Array | undefined {
    return this.buffer?.subarray(position, position + byteLength);
  }

  finish(): CompletedBytes {
    let bytes = this.buffer;
    this.buffer = undefined;
    return {
      location: "memory",
      read: () => {
        if (!bytes) throw new Error("stream payload already disposed");
        return bytes;
      },
      dispose: () => {
        bytes = undefined;
      },
    };
  }

  discard(): void {
    this.buffer = undefined;
  }
}

/** A file only this process can read (0600 in a 0700 directory), named randomly, never from the wire. */
export class FileSink implements StreamSink {
  readonly location = "file";
  private fd: number | undefined;
  readonly path: string;

  constructor(dir: string) {
    this.path = join(dir, `${randomBytes(16).toString("hex")}.part`);
    this.fd = openSync(this.path, "wx", 0o600);
  }

  write(bytes: Uint8Array, position: number): void {
    let done = 0;
    while (done < bytes.byteLength) done += writeSync(this.fd as number, bytes, done, bytes.byteLength - done, position + done);
  }

  finish(): CompletedBytes {
    this.close();
    const path = this.path;
    return {
      location: "file",
      path,
      read: () => new Uint8Array(readFileSync(path)),
      dispose: () => rmSync(path, { force: true }),
    };
  }

  discard(): void {
    this.close();
    try {
      unlinkSync(this.path);
    } catch {
      // already gone
    }
  }

  private close(): void {
    if (this.fd !== undefined) closeSync(this.fd);
    this.fd = undefined;
  }
}

export function makeSpillDir(parent: string): string {
  return mkdtempSync(join(parent, "cohort-wire-"));
}
