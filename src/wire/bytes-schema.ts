import { z } from "zod";

/** A zod schema for raw bytes (a Uint8Array, as the wire decodes bin values), optionally of an exact length. */
export function bytesSchema(length?: number): z.ZodType<Uint8Array> {
  return z.custom<Uint8Array>(
    (v) => v instanceof Uint8Array && (length === undefined || v.byteLength === length),
    length === undefined ? "must be bytes" : `must be ${length} bytes`,
  );
}
