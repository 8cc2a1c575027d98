import { WireError } from "./errors.js";

/**
 * A frame carries a MessagePack body plus binary sections laid beside it, so that large arrays are
 * written once and decoded as views (docs/protocol.md, "Frame"). Without sections a message is
 * plain MessagePack; a frame starts with 0xC1, which MessagePack never uses, so the two cannot be
 * confused.
 */
export const FRAME_MAGIC = Uint8Array.of(0xc1, 0x43, 0x57, 0x46); // 0xC1 "CWF"
export const FRAME_VERSION = 1;
export const FRAME_HEADER_BYTES = 16;
/** Sections start at multiples of 2^alignLog2 from the frame start (header byte 5). */
export const MIN_ALIGN_LOG2 = 3; // 8 bytes: every dtype can be viewed in place
export const MAX_ALIGN_LOG2 = 12;
// Page-aligned sections copy at full memcpy speed (the kernel and CPU copy aligned pages fastest;
// measured 1.7x faster than 8-byte alignment for 256 MiB); the padding is < 4 KiB per section.
export const ENCODER_ALIGN_LOG2 = 12;
const MAX_U32 = 0xffffffff;

const ZEROS = new Uint8Array(1 << MAX_ALIGN_LOG2);

export interface ParsedFrame {
  readonly body: Uint8Array;
  /** Offset of the body inside the frame, for error offsets. */
  readonly bodyOffset: number;
  readonly sections: readonly Uint8Array[];
}

export function isFrame(bytes: Uint8Array): boolean {
  return bytes.byteLength > 0 && bytes[0] === FRAME_MAGIC[0];
}

function padding(length: number, alignment: number): number {
  return (alignment - (length % alignment)) % alignment;
}

/** Header, section table, body and the body's padding, as one buffer that precedes the sections. */
export function frameHead(body: Uint8Array, sectionLengths: readonly number[], alignLog2 = ENCODER_ALIGN_LOG2): Uint8Array {
  if (body.byteLength > MAX_U32 || sectionLengths.length > MAX_U32) {
    throw new WireError("ERR_WIRE_TOO_LARGE", "message body or section count exceeds 2^32", { bodyBytes: body.byteLength });
  }
  const tableBytes = 8 * sectionLengths.length;
  const bodyStart = FRAME_HEADER_BYTES + tableBytes;
  const head = new Uint8Array(bodyStart + body.byteLength + padding(bodyStart + body.byteLength, 2 ** alignLog2));
  const view = new DataView(head.buffer);
  head.set(FRAME_MAGIC, 0);
  view.setUint8(4, FRAME_VERSION);
  view.setUint8(5, alignLog2);
  view.setUint32(8, sectionLengths.length, true);
  view.setUint32(12, body.byteLength, true);
  sectionLengths.forEach((length, i) => view.setBigUint64(FRAME_HEADER_BYTES + 8 * i, BigInt(length), true));
  head.set(body, bodyStart);
  return head;
}

/** The zero bytes that follow a section so that the next one starts aligned. */
export function sectionPadding(sectionLength: number, alignLog2 = ENCODER_ALIGN_LOG2): Uint8Array {
  return ZEROS.subarray(0, padding(sectionLength, 2 ** alignLog2));
}

export function parseFrame(frame: Uint8Array): ParsedFrame {
  const fail = (code: "ERR_WIRE_MALFORMED" | "ERR_WIRE_TRUNCATED", what: string, offset: number): never => {
    throw new WireError(code, `frame: ${what} at offset ${offset}`, { offset, path: "$" });
  };
  if (frame.byteLength < FRAME_HEADER_BYTES) fail("ERR_WIRE_TRUNCATED", `header needs ${FRAME_HEADER_BYTES} bytes, got ${frame.byteLength}`, 0);
  for (let i = 0; i < FRAME_MAGIC.length; i++) if (frame[i] !== FRAME_MAGIC[i]) fail("ERR_WIRE_MALFORMED", "bad magic", i);
  const view = new DataView(frame.buffer, frame.byteOffset, frame.byteLength);
  if (view.getUint8(4) !== FRAME_VERSION) fail("ERR_WIRE_MALFORMED", `unsupported version ${view.getUint8(4)}`, 4);
  const alignLog2 = view.getUint8(5);
  if (alignLog2 < MIN_ALIGN_LOG2 || alignLog2 > MAX_ALIGN_LOG2) fail("ERR_WIRE_MALFORMED", `section alignment 2^${alignLog2} outside 2^3..2^12`, 5);
  const alignment = 2 ** alignLog2;
  if (view.getUint16(6, true) !== 0) fail("ERR_WIRE_MALFORMED", "reserved header bytes are not zero", 6);
  const count = view.getUint32(8, true);
  const bodyLength = view.getUint32(12, true);
  let pos = FRAME_HEADER_BYTES;
  // Each table entry takes 8 bytes: check before looping so a huge count costs nothing.
  if (count > (frame.byteLength - pos) / 8) fail("ERR_WIRE_TRUNCATED", `section table of ${count} entries exceeds the frame`, 8);
  const lengths: number[] = [];
  for (let i = 0; i < count; i++, pos += 8) {
    const high = view.getUint32(pos + 4, true);
    const length = high * 2 ** 32 + view.getUint32(pos, true);
    if (high > 0x1fffff || length > frame.byteLength) {
      fail("ERR_WIRE_TRUNCATED", `section ${i} length ${length} exceeds the frame`, pos);
    }
    lengths.push(length);
  }
  const bodyOffset = pos;
  if (bodyLength > frame.byteLength - pos) fail("ERR_WIRE_TRUNCATED", `body length ${bodyLength} exceeds the remaining ${frame.byteLength - pos} bytes`, 12);
  const body = frame.subarray(pos, pos + bodyLength);
  pos = checkPadding(frame, pos + bodyLength, alignment, fail);
  const sections: Uint8Array[] = [];
  for (let i = 0; i < count; i++) {
    const length = lengths[i] as number;
    if (length > frame.byteLength - pos) fail("ERR_WIRE_TRUNCATED", `section ${i} of ${length} bytes exceeds the remaining ${frame.byteLength - pos}`, pos);
    sections.push(frame.subarray(pos, pos + length));
    pos = checkPadding(frame, pos + length, alignment, fail);
  }
  if (pos !== frame.byteLength) fail("ERR_WIRE_MALFORMED", `${frame.byteLength - pos} trailing byte(s) after the last section`, pos);
  return { body, bodyOffset, sections };
}

function checkPadding(
  frame: Uint8Array,
  pos: number,
  alignment: number,
  fail: (code: "ERR_WIRE_MALFORMED" | "ERR_WIRE_TRUNCATED", what: string, offset: number) => never,
): number {
  const end = pos + padding(pos, alignment);
  if (end > frame.byteLength) fail("ERR_WIRE_TRUNCATED", "padding runs past the end", pos);
  for (let i = pos; i < end; i++) if (frame[i] !== 0) fail("ERR_WIRE_MALFORMED", "padding byte is not zero", i);
  return end;
}
