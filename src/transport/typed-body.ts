import type { z } from "zod";
import { CohortError } from "../errors/index.js";
import { AuthErrorCode } from "../auth/index.js";
import { decode } from "../wire/index.js";
import type { Body, MessageHandler, MessageMeta, RequestHandler } from "./channel.js";

/**
 * Decodes a message body and validates it against `schema`. A body that is not MessagePack, or not
 * of the shape the topic expects, is refused with ERR_AUTH_MALFORMED naming the topic, the field
 * and the bad value (the channel answers the sender with it and audits the refusal once).
 */
export function decodeBody<T>(topic: string, body: Uint8Array, schema: z.ZodType<T>): T {
  let raw: unknown;
  try {
    raw = decode(body);
  } catch (cause) {
    throw new CohortError(AuthErrorCode.Malformed, `${topic}: the body is not a valid message (${(cause as Error).message})`, { topic }, { cause });
  }
  const r = schema.safeParse(raw, { reportInput: true });
  if (!r.success) {
    const issue = r.error.issues[0];
    const field = issue?.path.map(String).join(".") || "(body)";
    const got =
      issue && "input" in issue && issue.input !== undefined
        ? ` (got ${JSON.stringify(issue.input, (_k, v: unknown) => (v instanceof Uint8Array ? `<${v.byteLength} bytes>` : v)).slice(0, 80)})`
        : "";
    throw new CohortError(AuthErrorCode.Malformed, `${topic}: ${field}: ${issue?.message ?? "invalid"}${got}`, { topic, field });
  }
  return r.data;
}

/** A request handler that receives its body decoded and validated ({@link decodeBody}). */
export function typedRequest<T>(
  topic: string,
  schema: z.ZodType<T>,
  handler: (value: T, meta: MessageMeta) => Promise<Body | undefined> | Body | undefined,
): RequestHandler {
  return (body, meta) => handler(decodeBody(topic, body, schema), meta);
}

/** A one-way message handler that receives its body decoded and validated ({@link decodeBody}). */
export function typedMessage<T>(topic: string, schema: z.ZodType<T>, handler: (value: T, meta: MessageMeta) => void): MessageHandler {
  return (body, meta) => handler(decodeBody(topic, body, schema), meta);
}
