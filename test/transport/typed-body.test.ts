/** decodeBody / typedRequest: one place decodes, validates and refuses a message body by topic, field and value. */
import { test } from "node:test";
import assert from "node:assert/strict";
import { z } from "zod";
import fc from "fast-check";
import { decodeBody, typedRequest, type MessageMeta } from "../../src/transport/index.js";
import { encode, decode } from "../../src/wire/index.js";

const schema = z.object({ job_id: z.string().uuid(), count: z.number().int().nonnegative() });
const id = "3f1c9a52-1a0b-4d8e-9f0e-2b7c1d2e3f40";

test("a valid body comes back typed", () => {
  assert.deepEqual(decodeBody("job.task", encode({ job_id: id, count: 3 }), schema), { job_id: id, count: 3 });
});

test("a wrong shape is refused naming topic, field and value", () => {
  assert.throws(
    () => decodeBody("job.task", encode({ job_id: "nope", count: 3 }), schema),
    (e: { code?: string; message: string; details?: Record<string, unknown> }) => {
      assert.equal(e.code, "ERR_AUTH_MALFORMED");
      assert.match(e.message, /^job\.task: job_id: .*\(got "nope"\)/);
      assert.equal(e.details?.["field"], "job_id");
      return true;
    },
  );
  assert.throws(() => decodeBody("job.task", encode([1, 2]), schema), { code: "ERR_AUTH_MALFORMED", message: /^job\.task: \(body\): / });
});

test("bytes that are not a message are refused, never thrown as something else", () => {
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 256 }), (bytes) => {
      let ok = false;
      try {
        decode(bytes);
        ok = schema.safeParse(decode(bytes)).success;
      } catch {
        // not MessagePack
      }
      if (ok) return;
      assert.throws(() => decodeBody("job.task", bytes, schema), { code: "ERR_AUTH_MALFORMED" });
    }),
    { numRuns: 500 },
  );
});

test("typedRequest hands the handler the validated value", async () => {
  const handler = typedRequest("job.task", schema, (v) => encode(v.count + 1));
  const meta = { sender: "site-1", topic: "job.task" } as unknown as MessageMeta;
  assert.equal(decode((await handler(encode({ job_id: id, count: 1 }), meta)) as Uint8Array), 2);
  assert.throws(() => handler(encode({ count: 1 }), meta), { code: "ERR_AUTH_MALFORMED" });
});
