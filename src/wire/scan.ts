import { WireError, type WireErrorCode } from "./errors.js";
import { dtypeByCode } from "./dtype.js";
import { typeByCode } from "./registry.js";
import { EXT_SECTION_ARRAY, EXT_TIMESTAMP, EXT_TYPED_ARRAY, FORBIDDEN_KEYS, SECTION_ARRAY_PAYLOAD_BYTES } from "./codes.js";

const SEG_INDEX = 0;
const SEG_KEY = 1;
const utf8 = new TextDecoder("utf-8", { fatal: false });

/**
 * Walks a MessagePack body once, before anything is built from it, and refuses what the decoder must
 * never see: lengths beyond the remaining bytes, nesting beyond the limit, non-string or forbidden map
 * keys, unregistered extension codes or type names, 64-bit integers a JS number cannot hold exactly,
 * and typed-array references that do not fit their section. Errors carry the byte offset (from the
 * start of the whole message) and the path of the value.
 */
export class BodyScanner {
  private readonly view: DataView;
  private end: number;
  private readonly segKinds: number[] = [];
  private readonly segValues: number[] = [];
  private readonly sectionUses: Uint8Array;

  constructor(
    private readonly bytes: Uint8Array,
    /** Offset of `bytes` inside the whole message, so errors point into what the caller holds. */
    private readonly base: number,
    private readonly maxDepth: number,
    private readonly sectionLengths: readonly number[],
  ) {
    this.view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    this.end = bytes.byteLength;
    this.sectionUses = new Uint8Array(sectionLengths.length);
  }

  scan(): void {
    const pos = this.value(0, 1);
    if (pos !== this.end) this.fail("ERR_WIRE_MALFORMED", `${this.end - pos} trailing byte(s) after the value`, pos);
    const unused = this.sectionUses.indexOf(0);
    if (unused >= 0) this.fail("ERR_WIRE_MALFORMED", `frame section ${unused} is never referenced`, 0, { section: unused });
  }

  private value(pos: number, depth: number): number {
    if (depth > this.maxDepth) {
      this.fail("ERR_WIRE_TOO_DEEP", `nesting deeper than ${this.maxDepth}`, pos, { maxDepth: this.maxDepth });
    }
    this.need(pos, 1, "a value");
    const b = this.bytes[pos] as number;
    if (b <= 0x7f || b >= 0xe0) return pos + 1;
    if (b <= 0x8f) return this.map(pos, pos + 1, b & 0x0f, depth);
    if (b <= 0x9f) return this.array(pos, pos + 1, b & 0x0f, depth);
    if (b <= 0xbf) return this.skip(pos + 1, b & 0x1f, "string");
    switch (b) {
      case 0xc0:
      case 0xc2:
      case 0xc3:
        return pos + 1;
      case 0xc4:
        return this.skip(pos + 2, this.u8(pos + 1), "bin");
      case 0xc5:
        return this.skip(pos + 3, this.u16(pos + 1), "bin");
      case 0xc6:
        return this.skip(pos + 5, this.u32(pos + 1), "bin");
      case 0xc7:
        return this.ext(pos, pos + 3, this.u8(pos + 1), this.i8(pos + 2), depth);
      case 0xc8:
        return this.ext(pos, pos + 4, this.u16(pos + 1), this.i8(pos + 3), depth);
      case 0xc9:
        return this.ext(pos, pos + 6, this.u32(pos + 1), this.i8(pos + 5), depth);
      case 0xca:
        return this.fixed(pos, 5);
      case 0xcb:
        return this.fixed(pos, 9);
      case 0xcc:
      case 0xd0:
        return this.fixed(pos, 2);
      case 0xcd:
      case 0xd1:
        return this.fixed(pos, 3);
      case 0xce:
      case 0xd2:
        return this.fixed(pos, 5);
      case 0xcf:
      case 0xd3:
        return this.int64(pos, b === 0xd3);
      case 0xd4:
        return this.ext(pos, pos + 2, 1, this.i8(pos + 1), depth);
      case 0xd5:
        return this.ext(pos, pos + 2, 2, this.i8(pos + 1), depth);
      case 0xd6:
        return this.ext(pos, pos + 2, 4, this.i8(pos + 1), depth);
      case 0xd7:
        return this.ext(pos, pos + 2, 8, this.i8(pos + 1), depth);
      case 0xd8:
        return this.ext(pos, pos + 2, 16, this.i8(pos + 1), depth);
      case 0xd9:
        return this.skip(pos + 2, this.u8(pos + 1), "string");
      case 0xda:
        return this.skip(pos + 3, this.u16(pos + 1), "string");
      case 0xdb:
        return this.skip(pos + 5, this.u32(pos + 1), "string");
      case 0xdc:
        return this.array(pos, pos + 3, this.u16(pos + 1), depth);
      case 0xdd:
        return this.array(pos, pos + 5, this.u32(pos + 1), depth);
      case 0xde:
        return this.map(pos, pos + 3, this.u16(pos + 1), depth);
      case 0xdf:
        return this.map(pos, pos + 5, this.u32(pos + 1), depth);
      default: // 0xc1 is the one byte MessagePack never uses
        return this.fail("ERR_WIRE_MALFORMED", `invalid MessagePack byte 0x${b.toString(16)}`, pos);
    }
  }

  private array(head: number, pos: number, count: number, depth: number): number {
    // Every element takes at least one byte: a count beyond the remaining bytes is a lie.
    this.need(pos, count, `array of ${count} element(s)`, head);
    for (let i = 0; i < count; i++) {
      this.segKinds.push(SEG_INDEX);
      this.segValues.push(i);
      pos = this.value(pos, depth + 1);
      this.segKinds.pop();
      this.segValues.pop();
    }
    return pos;
  }

  private map(head: number, pos: number, count: number, depth: number): number {
    this.need(pos, count * 2, `map of ${count} entr${count === 1 ? "y" : "ies"}`, head);
    for (let i = 0; i < count; i++) {
      const keyPos = pos;
      pos = this.key(keyPos);
      this.segKinds.push(SEG_KEY);
      this.segValues.push(keyPos);
      pos = this.value(pos, depth + 1);
      this.segKinds.pop();
      this.segValues.pop();
    }
    return pos;
  }

  /** Checks one map key: a string that is not a forbidden name. Returns the position after it. */
  private key(pos: number): number {
    const span = this.stringSpan(pos);
    if (!span) {
      this.fail("ERR_WIRE_KEY_TYPE", "map key is not a string (use a Map for other key types)", pos);
    }
    const [start, length] = span;
    this.need(start, length, "string key", pos);
    if (length === 9 || length === 11) {
      const key = utf8.decode(this.bytes.subarray(start, start + length));
      if (FORBIDDEN_KEYS.has(key)) {
        this.fail("ERR_WIRE_FORBIDDEN_KEY", `forbidden map key "${key}"`, pos, { key });
      }
    }
    return start + length;
  }

  /** [start, length] of the string at `pos`, or undefined when the value there is not a string. */
  private stringSpan(pos: number): [number, number] | undefined {
    this.need(pos, 1, "a map key");
    const b = this.bytes[pos] as number;
    if (b >= 0xa0 && b <= 0xbf) return [pos + 1, b & 0x1f];
    if (b === 0xd9) return [pos + 2, this.u8(pos + 1)];
    if (b === 0xda) return [pos + 3, this.u16(pos + 1)];
    if (b === 0xdb) return [pos + 5, this.u32(pos + 1)];
    return undefined;
  }

  private ext(head: number, pos: number, length: number, type: number, depth: number): number {
    this.need(pos, length, `extension ${type} payload`, head);
    if (type === EXT_TIMESTAMP) {
      if (length !== 4 && length !== 8 && length !== 12) {
        this.fail("ERR_WIRE_MALFORMED", `timestamp extension of ${length} bytes (must be 4, 8 or 12)`, head);
      }
    } else if (type === EXT_TYPED_ARRAY) {
      if (length < 1) this.fail("ERR_WIRE_MALFORMED", "typed-array extension without a dtype byte", head);
      this.elementsFit(pos, length - 1, head);
    } else if (type === EXT_SECTION_ARRAY) {
      if (length !== SECTION_ARRAY_PAYLOAD_BYTES) {
        this.fail("ERR_WIRE_MALFORMED", `section-array extension of ${length} bytes (must be 5)`, head);
      }
      const index = this.view.getUint32(pos + 1, true);
      const sectionLength = this.sectionLengths[index];
      if (sectionLength === undefined) {
        this.fail("ERR_WIRE_MALFORMED", `reference to frame section ${index}, which does not exist`, head, { section: index });
      }
      if (this.sectionUses[index]) {
        this.fail("ERR_WIRE_MALFORMED", `frame section ${index} is referenced twice`, head, { section: index });
      }
      this.sectionUses[index] = 1;
      this.elementsFit(pos, sectionLength, head);
    } else {
      this.registered(head, pos, length, type, depth);
    }
    return pos + length;
  }

  /** A dtype byte at `pos` that is known, and a byte count that is a whole number of its elements. */
  private elementsFit(pos: number, byteLength: number, head: number): void {
    const code = this.bytes[pos] as number;
    const info = dtypeByCode(code);
    if (!info) this.fail("ERR_WIRE_UNKNOWN_DTYPE", `unknown dtype code ${code}`, head, { dtypeCode: code });
    if (byteLength % info.itemSize !== 0) {
      this.fail("ERR_WIRE_TENSOR_SHAPE", `${byteLength} bytes is not a whole number of ${info.name} elements`, head, {
        dtype: info.name,
        byteLength,
      });
    }
  }

  /** A registered type: payload is the MessagePack array [name, state], name matching the code's. */
  private registered(head: number, pos: number, length: number, code: number, depth: number): void {
    const type = typeByCode(code);
    if (!type) this.fail("ERR_WIRE_UNKNOWN_TYPE", `extension code ${code} is not registered`, head, { extCode: code });
    const outerEnd = this.end;
    this.end = pos + length;
    const b = this.bytes[pos];
    const arrayLength = b === 0x92 ? 2 : b === 0xdc && this.u16(pos + 1) === 2 ? 2 : -1;
    if (arrayLength !== 2) {
      this.fail("ERR_WIRE_MALFORMED", `payload of extension ${code} is not a [name, state] array`, head, { extCode: code });
    }
    const namePos = pos + (b === 0x92 ? 1 : 3);
    const span = this.stringSpan(namePos);
    if (!span) this.fail("ERR_WIRE_MALFORMED", `type name of extension ${code} is not a string`, namePos, { extCode: code });
    const [start, nameLength] = span;
    this.need(start, nameLength, "type name", namePos);
    const wireName = this.bytes.subarray(start, start + nameLength);
    if (!sameBytes(wireName, type.nameBytes)) {
      const typeName = utf8.decode(wireName).slice(0, 64);
      this.fail("ERR_WIRE_UNKNOWN_TYPE", `type name "${typeName}" is not registered under extension code ${code}`, namePos, {
        extCode: code,
        typeName,
      });
    }
    const after = this.value(start + nameLength, depth + 1);
    if (after !== this.end) this.fail("ERR_WIRE_MALFORMED", `trailing bytes inside extension ${code}`, after, { extCode: code });
    this.end = outerEnd;
  }

  private int64(pos: number, signed: boolean): number {
    this.need(pos, 9, "64-bit integer");
    const high = signed ? this.view.getInt32(pos + 1) : this.view.getUint32(pos + 1);
    if (!Number.isSafeInteger(high * 2 ** 32 + this.view.getUint32(pos + 5))) {
      this.fail("ERR_WIRE_INT_RANGE", "64-bit integer outside ±(2^53-1); send it as a bigint extension", pos);
    }
    return pos + 9;
  }

  private fixed(pos: number, size: number): number {
    this.need(pos, size, "number");
    return pos + size;
  }

  private skip(pos: number, length: number, what: string): number {
    this.need(pos, length, what);
    return pos + length;
  }

  private u8(pos: number): number {
    this.need(pos, 1, "length prefix");
    return this.bytes[pos] as number;
  }

  private i8(pos: number): number {
    this.need(pos, 1, "extension type");
    return this.view.getInt8(pos);
  }

  private u16(pos: number): number {
    this.need(pos, 2, "length prefix");
    return this.view.getUint16(pos);
  }

  private u32(pos: number): number {
    this.need(pos, 4, "length prefix");
    return this.view.getUint32(pos);
  }

  private need(pos: number, length: number, what: string, head = pos): void {
    const remaining = this.end - pos;
    if (length > remaining) {
      this.fail("ERR_WIRE_TRUNCATED", `${what} needs ${length} byte(s) but ${Math.max(remaining, 0)} remain`, head, {
        needed: length,
        remaining: Math.max(remaining, 0),
      });
    }
  }

  private fail(code: WireErrorCode, what: string, pos: number, extra: Record<string, unknown> = {}): never {
    const offset = this.base + pos;
    const path = this.path();
    throw new WireError(code, `${what} at offset ${offset}, path ${path}`, { offset, path, ...extra });
  }

  /** "$.a.b[3]" for the value being scanned; keys are decoded only here, on the error path. */
  private path(): string {
    let out = "$";
    for (let i = 0; i < this.segKinds.length; i++) {
      const v = this.segValues[i] as number;
      if (this.segKinds[i] === SEG_INDEX) {
        out += `[${v}]`;
        continue;
      }
      const span = this.stringSpan(v);
      const key = span ? utf8.decode(this.bytes.subarray(span[0], span[0] + span[1])).slice(0, 64) : "?";
      out += /^[A-Za-z_$][\w$]*$/.test(key) ? `.${key}` : `[${JSON.stringify(key)}]`;
    }
    return out;
  }
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.byteLength !== b.byteLength) return false;
  for (let i = 0; i < a.byteLength; i++) if (a[i] !== b[i]) return false;
  return true;
}
