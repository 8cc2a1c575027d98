import { createHmac, timingSafeEqual } from "node:crypto";

export const MAC_BYTES = 32;

/** The authenticated fields of a message header (see docs/protocol.md §2). */
export interface MacFields {
  readonly kind: string;
  readonly id: string;
  readonly replyTo: string;
  readonly topic: string;
  readonly sender: string;
  readonly timestamp: number;
  readonly seq: number;
}

function writeField(h: ReturnType<typeof createHmac>, s: string): void {
  const b = Buffer.from(s, "utf8");
  const len = Buffer.allocUnsafe(4);
  len.writeUInt32BE(b.byteLength);
  h.update(len).update(b);
}

/**
 * HMAC-SHA256 with the session key over the header fields (each length-prefixed) and then the body
 * bytes, in one pass. The body can be given as parts so that nothing is concatenated.
 */
export function computeMac(key: Uint8Array, f: MacFields, body: readonly Uint8Array[]): Buffer {
  const h = createHmac("sha256", key);
  writeField(h, "cohort-msg-v1");
  writeField(h, f.kind);
  writeField(h, f.id);
  writeField(h, f.replyTo);
  writeField(h, f.topic);
  writeField(h, f.sender);
  writeField(h, String(f.timestamp));
  writeField(h, String(f.seq));
  let total = 0;
  for (const p of body) total += p.byteLength;
  writeField(h, String(total));
  for (const p of body) h.update(p);
  return h.digest();
}

export function macMatches(expected: Uint8Array, actual: Uint8Array): boolean {
  return expected.byteLength === actual.byteLength && timingSafeEqual(expected, actual);
}
