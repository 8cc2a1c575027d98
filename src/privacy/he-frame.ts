/** The wire framing of a CKKS-encrypted layer (no node-seal import: cheap to load everywhere). */
import { CohortError } from "../errors/index.js";
import { PrivacyErrorCode } from "./errors.js";

/** Slots per ciphertext (CKKS, N = 8192). */
export const CKKS_SLOTS = 4096;

/**
 * One encrypted layer in an FLModel's params: a Uint8Array framed as
 * "CKKS" | u32 values | f64 weight | u32 params length | params (utf8) | u32 count | (u32 len, bytes)×count.
 * The weight is what the values were multiplied by (a site's sample count, or the sum of them after
 * aggregation); the public parameters travel along so that the server needs no key file at all.
 */
export interface EncryptedLayer {
  readonly length: number;
  readonly weight: number;
  readonly params: string;
  readonly cts: readonly Uint8Array[];
}

const MAGIC = 0x534b4b43; // "CKKS" little-endian

export function packLayer(l: EncryptedLayer): Uint8Array {
  const p = new TextEncoder().encode(l.params);
  const size = 4 + 4 + 8 + 4 + p.length + 4 + l.cts.reduce((s, c) => s + 4 + c.byteLength, 0);
  const out = new Uint8Array(size);
  const dv = new DataView(out.buffer);
  let o = 0;
  dv.setUint32(o, MAGIC, true);
  dv.setUint32((o += 4), l.length, true);
  dv.setFloat64((o += 4), l.weight, true);
  dv.setUint32((o += 8), p.length, true);
  out.set(p, (o += 4));
  dv.setUint32((o += p.length), l.cts.length, true);
  o += 4;
  for (const c of l.cts) {
    dv.setUint32(o, c.byteLength, true);
    out.set(c, o + 4);
    o += 4 + c.byteLength;
  }
  return out;
}

export function isPackedLayer(v: unknown): v is Uint8Array {
  return v instanceof Uint8Array && v.byteLength >= 24 && new DataView(v.buffer, v.byteOffset).getUint32(0, true) === MAGIC;
}

export function unpackLayer(b: Uint8Array): EncryptedLayer {
  const bad = (): never => {
    throw new CohortError(PrivacyErrorCode.Filter, "malformed encrypted layer", {});
  };
  if (!isPackedLayer(b)) bad();
  const dv = new DataView(b.buffer, b.byteOffset, b.byteLength);
  let o = 4;
  const length = dv.getUint32(o, true);
  const weight = dv.getFloat64((o += 4), true);
  const pl = dv.getUint32((o += 8), true);
  o += 4;
  if (o + pl + 4 > b.byteLength) bad();
  const params = new TextDecoder().decode(b.subarray(o, o + pl));
  const count = dv.getUint32((o += pl), true);
  o += 4;
  const cts: Uint8Array[] = [];
  for (let i = 0; i < count; i++) {
    if (o + 4 > b.byteLength) bad();
    const n = dv.getUint32(o, true);
    if (o + 4 + n > b.byteLength) bad();
    cts.push(b.subarray(o + 4, o + 4 + n));
    o += 4 + n;
  }
  if (count !== Math.ceil(length / CKKS_SLOTS)) bad();
  return { length, weight, params, cts };
}
