import { z } from "zod";
import { decode, encode, bytesSchema } from "../wire/index.js";
import { CohortError } from "../errors/index.js";
import { TransportErrorCode } from "./errors.js";
import { decodeHeaderFast, encodeHeaderFast } from "./header-codec.js";

/**
 * One frame on a link: `u32 BE header length | header (MessagePack) | body bytes`. The header is
 * small and always decoded; the body is opaque here (wire-encoded by the caller) so that the MAC
 * covers the exact bytes that travel and nothing is re-encoded. See docs/protocol.md §2.
 */
export const KINDS = ["hello", "challenge", "login", "welcome", "req", "rep", "msg", "chunk", "ping", "pong", "renew", "refused", "bye"] as const;
export type Kind = (typeof KINDS)[number];

export const MAX_HEADER_BYTES = 16 * 1024;

export const headerSchema = z.strictObject({
  k: z.enum(KINDS),
  /** Message id: 32 hex characters, unique per sender. */
  id: z.string().regex(/^[0-9a-f]{32}$/),
  /** The request this answers (rep, refused). */
  re: z
    .string()
    .regex(/^[0-9a-f]{32}$/)
    .optional(),
  /** Topic (req, msg, chunk streams). */
  t: z.string().max(256).optional(),
  /** Sender name, session token, timestamp (ms), sequence number and MAC (authenticated messages). */
  n: z.string().max(255).optional(),
  tok: z.string().max(4096).optional(),
  ts: z.number().int().nonnegative().optional(),
  sq: z.number().int().positive().optional(),
  mac: bytesSchema(32).optional(),
  /** Refusal details (refused). */
  code: z.string().max(64).optional(),
  msg: z.string().max(2048).optional(),
});
export type Header = z.infer<typeof headerSchema>;

export interface Envelope {
  readonly header: Header;
  /** Body bytes (a view into the frame). */
  readonly body: Uint8Array;
}

const HEADER_KEYS = ["k", "id", "re", "t", "n", "tok", "ts", "sq", "mac", "code", "msg"] as const;
const KIND_SET: ReadonlySet<string> = new Set(KINDS);
const ID = /^[0-9a-f]{32}$/;

/** Encodes a frame as parts: [length+header, ...body parts] (body not copied). */
export function encodeEnvelope(header: Header, body: readonly Uint8Array[]): Uint8Array[] {
  let prefix = encodeHeaderFast(header, 4);
  if (!prefix) {
    const h = encode(header);
    prefix = Buffer.allocUnsafe(4 + h.byteLength);
    prefix.set(h, 4);
  }
  prefix.writeUInt32BE(prefix.byteLength - 4, 0);
  return [prefix, ...body];
}

const str = (v: unknown, max: number): boolean => v === undefined || (typeof v === "string" && v.length <= max);
const id = (v: unknown): boolean => typeof v === "string" && ID.test(v);

/**
 * The header schema's checks, written out for the fast path (headerSchema stays the reference; a
 * property test keeps the two in agreement). Integers from the fast decoder are already
 * non-negative safe integers.
 */
function fastHeader(v: readonly unknown[]): Header | undefined {
  const [k, hid, re, t, n, tok, ts, sq, mac, code, msg] = v;
  const ok =
    typeof k === "string" &&
    KIND_SET.has(k) &&
    id(hid) &&
    (re === undefined || id(re)) &&
    str(t, 256) &&
    str(n, 255) &&
    str(tok, 4096) &&
    (ts === undefined || typeof ts === "number") &&
    (sq === undefined || (typeof sq === "number" && sq > 0)) &&
    (mac === undefined || (mac instanceof Uint8Array && mac.byteLength === 32)) &&
    str(code, 64) &&
    str(msg, 2048);
  if (!ok) return undefined;
  // Same shape every time (absent fields left out, as the schema's output).
  const h: Record<string, unknown> = { k, id: hid };
  if (re !== undefined) h["re"] = re;
  if (t !== undefined) h["t"] = t;
  if (n !== undefined) h["n"] = n;
  if (tok !== undefined) h["tok"] = tok;
  if (ts !== undefined) h["ts"] = ts;
  if (sq !== undefined) h["sq"] = sq;
  if (mac !== undefined) h["mac"] = mac;
  if (code !== undefined) h["code"] = code;
  if (msg !== undefined) h["msg"] = msg;
  return h as Header;
}

export function decodeEnvelope(frame: Uint8Array): Envelope {
  if (frame.byteLength < 4) throw new CohortError(TransportErrorCode.BadFrame, "frame shorter than its 4-byte header length", { bytes: frame.byteLength });
  const len = new DataView(frame.buffer, frame.byteOffset, 4).getUint32(0);
  if (len > MAX_HEADER_BYTES)
    throw new CohortError(TransportErrorCode.HeaderTooLarge, `frame header of ${len} bytes exceeds ${MAX_HEADER_BYTES}`, { bytes: len });
  if (4 + len > frame.byteLength)
    throw new CohortError(TransportErrorCode.BadFrame, `frame header length ${len} exceeds the frame (${frame.byteLength} bytes)`, { bytes: len });
  const bytes = frame.subarray(4, 4 + len);
  const values = decodeHeaderFast(Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength), HEADER_KEYS);
  const fast = values && fastHeader(values);
  if (fast) return { header: fast, body: frame.subarray(4 + len) };
  let raw: unknown;
  try {
    raw = decode(bytes, { maxMessageBytes: MAX_HEADER_BYTES, maxDepth: 4 });
  } catch (err) {
    throw new CohortError(TransportErrorCode.BadFrame, `frame header is not valid MessagePack: ${(err as Error).message}`, {}, { cause: err });
  }
  const parsed = headerSchema.safeParse(raw);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new CohortError(TransportErrorCode.BadFrame, `frame header field ${issue?.path.join(".") || "(root)"}: ${issue?.message ?? "invalid"}`, {});
  }
  return { header: parsed.data, body: frame.subarray(4 + len) };
}
