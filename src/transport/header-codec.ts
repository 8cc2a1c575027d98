/**
 * A fast path for frame headers, which are on every message: flat MessagePack maps whose values are
 * strings, non-negative integers or bytes. The generic wire codec costs several microseconds per
 * header (an encoder object, a scan for limits, zod); this one writes the same bytes and reads back
 * only what it can check completely. Anything else (non-ASCII strings, other value types, duplicate
 * keys, unusual encodings) is left to the generic path, which keeps the last word on refusals.
 */
/** Where headers are laid out before being copied to a buffer of their exact size (grown on demand). */
let scratch = Buffer.allocUnsafe(4096);

/**
 * `prefix` zero bytes for the caller, then the bytes of a header map: exactly what the wire encoder
 * produces for the same object. Undefined for values other than strings, non-negative safe
 * integers and bytes.
 */
export function encodeHeaderFast(header: Readonly<Record<string, unknown>>, prefix = 0): Buffer | undefined {
  let count = 0;
  let size = prefix + 3; // map16 at most
  for (const key in header) {
    const v = header[key];
    if (v === undefined) continue;
    count++;
    size += 5 + key.length * 3;
    if (typeof v === "string") size += 5 + v.length * 3;
    else if (typeof v === "number") size += 9;
    else if (v instanceof Uint8Array) size += 5 + v.byteLength;
    else return undefined;
  }
  if (count > 0xffff) return undefined;
  if (size > scratch.length) scratch = Buffer.allocUnsafe(size);
  const out = scratch;
  let o = prefix;
  if (count < 16) out[o++] = 0x80 | count;
  else {
    out[o++] = 0xde;
    o = out.writeUInt16BE(count, o);
  }
  for (const key in header) {
    const v = header[key];
    if (v === undefined) continue;
    o = writeString(out, o, key);
    if (typeof v === "string") o = writeString(out, o, v);
    else if (typeof v === "number") {
      const n = writeUint(out, o, v);
      if (n < 0) return undefined;
      o = n;
    } else {
      const b = v as Uint8Array;
      if (b.byteLength < 0x100) {
        out[o++] = 0xc4;
        out[o++] = b.byteLength;
      } else if (b.byteLength < 0x10000) {
        out[o++] = 0xc5;
        o = out.writeUInt16BE(b.byteLength, o);
      } else {
        out[o++] = 0xc6;
        o = out.writeUInt32BE(b.byteLength, o);
      }
      out.set(b, o);
      o += b.byteLength;
    }
  }
  const result = Buffer.allocUnsafe(o);
  out.copy(result, 0, 0, o);
  result.fill(0, 0, prefix);
  return result;
}

function writeString(out: Buffer, o: number, s: string): number {
  // Write the bytes after the longest prefix, then move them if a shorter prefix fits.
  const n = out.write(s, o + 5, "utf8");
  let head: number;
  if (n < 32) {
    out[o] = 0xa0 | n;
    head = 1;
  } else if (n < 0x100) {
    out[o] = 0xd9;
    out[o + 1] = n;
    head = 2;
  } else if (n < 0x10000) {
    out[o] = 0xda;
    out.writeUInt16BE(n, o + 1);
    head = 3;
  } else {
    out[o] = 0xdb;
    out.writeUInt32BE(n, o + 1);
    head = 5;
  }
  if (head !== 5) out.copyWithin(o + head, o + 5, o + 5 + n);
  return o + head + n;
}

/** Non-negative safe integers as MessagePack's smallest unsigned form; -1 for anything else. */
function writeUint(out: Buffer, o: number, v: number): number {
  if (!Number.isSafeInteger(v) || v < 0) return -1;
  if (v < 0x80) out[o++] = v;
  else if (v < 0x100) {
    out[o++] = 0xcc;
    out[o++] = v;
  } else if (v < 0x10000) {
    out[o++] = 0xcd;
    o = out.writeUInt16BE(v, o);
  } else if (v < 0x100000000) {
    out[o++] = 0xce;
    o = out.writeUInt32BE(v, o);
  } else {
    out[o++] = 0xcf;
    o = out.writeUInt32BE(Math.floor(v / 0x100000000), o);
    o = out.writeUInt32BE(v >>> 0, o);
  }
  return o;
}

/**
 * Reads a flat map whose keys are all among `keys` (each at most once) and whose values are ASCII
 * strings, unsigned integers (safe range) or bytes (copied out, so the header owns them). Returns
 * the values in the order of `keys` (undefined where absent), or undefined when the bytes are
 * anything else, so that the caller falls back to the generic decoder.
 */
export function decodeHeaderFast(bytes: Buffer, keys: readonly string[]): (string | number | Uint8Array | undefined)[] | undefined {
  const end = bytes.length;
  let o = 0;
  let count: number;
  const first = bytes[o++];
  if (first === undefined) return undefined;
  if ((first & 0xf0) === 0x80) count = first & 0x0f;
  else if (first === 0xde && end >= 3) {
    count = bytes.readUInt16BE(o);
    o += 2;
  } else return undefined;
  const values: (string | number | Uint8Array | undefined)[] = new Array<undefined>(keys.length).fill(undefined);
  for (let i = 0; i < count; i++) {
    // Keys are short fixstr; matched by bytes, so no string is made for them.
    const kt = bytes[o];
    if (kt === undefined || (kt & 0xe0) !== 0xa0) return undefined;
    const klen = kt & 0x1f;
    o++;
    if (o + klen > end) return undefined;
    const slot = keySlot(bytes, o, klen, keys);
    if (slot < 0 || values[slot] !== undefined) return undefined;
    o += klen;
    const t = bytes[o];
    if (t === undefined) return undefined;
    if (t < 0x80) {
      values[slot] = t;
      o++;
    } else if ((t & 0xe0) === 0xa0 || t === 0xd9 || t === 0xda || t === 0xdb) {
      const width = (t & 0xe0) === 0xa0 ? 0 : t === 0xd9 ? 1 : t === 0xda ? 2 : 4;
      if (o + 1 + width > end) return undefined;
      const n = width === 0 ? t & 0x1f : width === 1 ? (bytes[o + 1] as number) : width === 2 ? bytes.readUInt16BE(o + 1) : bytes.readUInt32BE(o + 1);
      const from = o + 1 + width;
      const to = from + n;
      if (to > end) return undefined;
      for (let j = from; j < to; j++) if ((bytes[j] as number) > 0x7f) return undefined;
      values[slot] = bytes.toString("latin1", from, to);
      o = to;
    } else if (t >= 0xcc && t <= 0xcf) {
      const width = 1 << (t - 0xcc);
      if (o + 1 + width > end) return undefined;
      let v: number;
      if (t === 0xcc) v = bytes[o + 1] as number;
      else if (t === 0xcd) v = bytes.readUInt16BE(o + 1);
      else if (t === 0xce) v = bytes.readUInt32BE(o + 1);
      else {
        v = bytes.readUInt32BE(o + 1) * 0x100000000 + bytes.readUInt32BE(o + 5);
        if (!Number.isSafeInteger(v)) return undefined;
      }
      values[slot] = v;
      o += 1 + width;
    } else if (t === 0xc4 || t === 0xc5 || t === 0xc6) {
      const width = t === 0xc4 ? 1 : t === 0xc5 ? 2 : 4;
      if (o + 1 + width > end) return undefined;
      const n = width === 1 ? (bytes[o + 1] as number) : width === 2 ? bytes.readUInt16BE(o + 1) : bytes.readUInt32BE(o + 1);
      o += 1 + width;
      if (o + n > end) return undefined;
      values[slot] = Uint8Array.prototype.slice.call(bytes, o, o + n);
      o += n;
    } else return undefined;
  }
  return o === end ? values : undefined;
}

function keySlot(bytes: Buffer, o: number, n: number, keys: readonly string[]): number {
  outer: for (let k = 0; k < keys.length; k++) {
    const key = keys[k] as string;
    if (key.length !== n) continue;
    for (let j = 0; j < n; j++) if (bytes[o + j] !== key.charCodeAt(j)) continue outer;
    return k;
  }
  return -1;
}
