/**
 * Canonical bytes for signatures and MACs: a label, then each field as a 4-byte big-endian length
 * and its bytes (strings as UTF-8). Unambiguous (no field can run into the next) and trivial to
 * reproduce in another language (docs/protocol.md).
 */
export function transcript(label: string, fields: readonly (string | Uint8Array | number)[]): Buffer {
  const parts: Buffer[] = [];
  for (const f of [label, ...fields]) {
    const bytes =
      typeof f === "string"
        ? Buffer.from(f, "utf8")
        : typeof f === "number"
          ? Buffer.from(String(f), "utf8")
          : Buffer.from(f.buffer, f.byteOffset, f.byteLength);
    const len = Buffer.allocUnsafe(4);
    len.writeUInt32BE(bytes.byteLength);
    parts.push(len, bytes);
  }
  return Buffer.concat(parts);
}
