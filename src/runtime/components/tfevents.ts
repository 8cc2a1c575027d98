/**
 * TensorBoard event files (what TensorBoard and FLARE's TBAnalyticsReceiver read and write): a
 * TFRecord stream of `Event` protocol buffers, each record framed as length (uint64 LE), masked
 * CRC-32C of the length, the bytes, masked CRC-32C of the bytes. Only what scalars need is encoded:
 * Event {wall_time = 1 (double), step = 2 (int64), file_version = 3 (string), summary = 5}, Summary
 * {value = 1}, Summary.Value {tag = 1 (string), simple_value = 2 (float)}.
 */

const CRC32C_TABLE = (() => {
  const t = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0x82f63b78 ^ (c >>> 1) : c >>> 1;
    t[n] = c >>> 0;
  }
  return t;
})();

/** CRC-32C (Castagnoli), as TFRecord frames use it (a checksum, not a security function). */
export function crc32c(bytes: Uint8Array): number {
  let c = 0xffffffff;
  for (const b of bytes) c = (CRC32C_TABLE[(c ^ b) & 0xff] as number) ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

function maskedCrc(bytes: Uint8Array): number {
  const c = crc32c(bytes);
  return ((((c >>> 15) | (c << 17)) >>> 0) + 0xa282ead8) >>> 0;
}

function varint(n: bigint): number[] {
  const out: number[] = [];
  let v = BigInt.asUintN(64, n);
  do {
    let byte = Number(v & 0x7fn);
    v >>= 7n;
    if (v > 0n) byte |= 0x80;
    out.push(byte);
  } while (v > 0n);
  return out;
}

const key = (field: number, wire: number): number[] => varint(BigInt((field << 3) | wire));
const lengthDelimited = (field: number, bytes: Uint8Array): number[] => [...key(field, 2), ...varint(BigInt(bytes.length)), ...bytes];

function event(o: { wallTime: number; step?: number; fileVersion?: string; tag?: string; value?: number }): Uint8Array {
  const out: number[] = [...key(1, 1)];
  const wall = Buffer.alloc(8);
  wall.writeDoubleLE(o.wallTime);
  out.push(...wall);
  if (o.step !== undefined) out.push(...key(2, 0), ...varint(BigInt(o.step)));
  if (o.fileVersion !== undefined) out.push(...lengthDelimited(3, Buffer.from(o.fileVersion, "utf8")));
  if (o.tag !== undefined && o.value !== undefined) {
    const simple = Buffer.alloc(4);
    simple.writeFloatLE(o.value);
    const value = Uint8Array.from([...lengthDelimited(1, Buffer.from(o.tag, "utf8")), ...key(2, 5), ...simple]);
    const summary = Uint8Array.from(lengthDelimited(1, value));
    out.push(...lengthDelimited(5, summary));
  }
  return Uint8Array.from(out);
}

/** One TFRecord frame around `data`. */
export function tfRecord(data: Uint8Array): Buffer {
  const len = Buffer.alloc(8);
  len.writeBigUInt64LE(BigInt(data.length));
  const head = Buffer.alloc(4);
  head.writeUInt32LE(maskedCrc(len));
  const tail = Buffer.alloc(4);
  tail.writeUInt32LE(maskedCrc(data));
  return Buffer.concat([len, head, data, tail]);
}

/** The first record of every event file. */
export function fileVersionRecord(wallTime: number): Buffer {
  return tfRecord(event({ wallTime, fileVersion: "brain.Event:2" }));
}

/** A scalar: `tag` = `value` at `step`. */
export function scalarRecord(tag: string, value: number, step: number, wallTime: number): Buffer {
  return tfRecord(event({ wallTime, step, tag, value }));
}

/** Reads the frames back (tests, and anyone checking a file): each record's bytes, CRCs verified. */
export function readTfRecords(file: Uint8Array): Uint8Array[] {
  const b = Buffer.from(file.buffer, file.byteOffset, file.byteLength);
  const out: Uint8Array[] = [];
  for (let o = 0; o < b.length; ) {
    if (o + 12 > b.length) throw new Error(`truncated record header at byte ${o}`);
    const len = b.subarray(o, o + 8);
    if (b.readUInt32LE(o + 8) !== maskedCrc(len)) throw new Error(`length CRC mismatch at byte ${o}`);
    const n = Number(len.readBigUInt64LE());
    const data = b.subarray(o + 12, o + 12 + n);
    if (data.length !== n || o + 16 + n > b.length) throw new Error(`truncated record at byte ${o}`);
    if (b.readUInt32LE(o + 12 + n) !== maskedCrc(data)) throw new Error(`data CRC mismatch at byte ${o}`);
    out.push(data);
    o += 16 + n;
  }
  return out;
}
