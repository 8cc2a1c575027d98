import { z } from "zod";
import { decode, encode } from "../wire/index.js";
import { CohortError } from "../errors/index.js";
import { TransportErrorCode } from "./errors.js";

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
  re: z.string().regex(/^[0-9a-f]{32}$/).optional(),
  /** Topic (req, msg, chunk streams). */
  t: z.string().max(256).optional(),
  /** Sender name, session token, timestamp (ms), sequence number and MAC (authenticated messages). */
  n: z.string().max(255).optional(),
  tok: z.string().max(4096).optional(),
  ts: z.number().int().nonnegative().optional(),
  sq: z.number().int().positive().optional(),
  mac: z.custom<Uint8Array>((v) => v instanceof Uint8Array && v.byteLength === 32, "must be 32 bytes").optional(),
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

/** Encodes a frame as parts: [length+header, ...body parts] (body not copied). */
export function encodeEnvelope(header: Header, body: readonly Uint8Array[]): Uint8Array[] {
  const h = encode(header);
  const prefix = new Uint8Array(4 + h.byteLength);
  new DataView(prefix.buffer).setUint32(0, h.byteLength);
  prefix.set(h, 4);
  return [prefix, ...body];
}

export function decodeEnvelope(frame: Uint8Array): Envelope {
  if (frame.byteLength < 4) throw new CohortError(TransportErrorCode.BadFrame, "frame shorter than its 4-byte header length", { bytes: frame.byteLength });
  const len = new DataView(frame.buffer, frame.byteOffset, 4).getUint32(0);
  if (len > MAX_HEADER_BYTES) throw new CohortError(TransportErrorCode.HeaderTooLarge, `frame header of ${len} bytes exceeds ${MAX_HEADER_BYTES}`, { bytes: len });
  if (4 + len > frame.byteLength) throw new CohortError(TransportErrorCode.BadFrame, `frame header length ${len} exceeds the frame (${frame.byteLength} bytes)`, { bytes: len });
  let raw: unknown;
  try {
    raw = decode(frame.subarray(4, 4 + len), { maxMessageBytes: MAX_HEADER_BYTES, maxDepth: 4 });
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
