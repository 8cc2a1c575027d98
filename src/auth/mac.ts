import { createHmac, timingSafeEqual, type KeyObject } from "node:crypto";

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

const LABEL = "cohort-msg-v1";

/** Laid-out header fields, reused: HMAC `update` copies what it is given before returning. */
let scratch = Buffer.allocUnsafe(1024);

function put(o: number, x: string): number {
  const n = scratch.write(x, o + 4, "utf8");
  scratch.writeUInt32BE(n, o);
  return o + 4 + n;
}

/**
 * HMAC-SHA256 with the session key over the header fields (each length-prefixed) and then the body
 * bytes, in one pass. The body can be given as parts so that nothing is concatenated. The fields
 * are laid out in one reused buffer first: one HMAC update instead of eighteen, and no allocation
 * (it is on every message). A KeyObject key saves re-importing the key each time.
 */
export function computeMac(key: Uint8Array | KeyObject, f: MacFields, body: readonly Uint8Array[]): Buffer {
  let total = 0;
  for (const p of body) total += p.byteLength;
  // Upper bound: 3 UTF-8 bytes per UTF-16 unit, 9 length prefixes, three decimal numbers.
  const bound = 3 * (LABEL.length + f.kind.length + f.id.length + f.replyTo.length + f.topic.length + f.sender.length) + 36 + 3 * 22;
  if (bound > scratch.length) scratch = Buffer.allocUnsafe(bound);
  let o = put(0, LABEL);
  o = put(o, f.kind);
  o = put(o, f.id);
  o = put(o, f.replyTo);
  o = put(o, f.topic);
  o = put(o, f.sender);
  o = put(o, String(f.timestamp));
  o = put(o, String(f.seq));
  o = put(o, String(total));
  const h = createHmac("sha256", key).update(scratch.subarray(0, o));
  for (const p of body) h.update(p);
  return h.digest();
}

export function macMatches(expected: Uint8Array, actual: Uint8Array): boolean {
  return expected.byteLength === actual.byteLength && timingSafeEqual(expected, actual);
}
