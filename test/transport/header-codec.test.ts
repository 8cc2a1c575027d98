/**
 * The frame-header fast path must be invisible: the same bytes as the wire encoder, and on decode
 * either the same header the generic path (MessagePack + headerSchema) returns, or a fallback to
 * it — never a header the schema would refuse.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import fc from "fast-check";
import { decode, encode } from "../../src/wire/index.js";
import { decodeEnvelope, encodeEnvelope, headerSchema, KINDS } from "../../src/transport/envelope.js";
import { encodeHeaderFast } from "../../src/transport/header-codec.js";

const hex32 = fc.stringMatching(/^[0-9a-f]{32}$/);
const text = (max: number) => fc.oneof(fc.string({ maxLength: max }), fc.string({ unit: "grapheme", maxLength: max }));
const uint = fc.oneof(fc.integer({ min: 0, max: 300 }), fc.integer({ min: 0, max: 0xffffffff }), fc.maxSafeNat());
const header = fc.record(
  {
    k: fc.constantFrom(...KINDS),
    id: hex32,
    re: hex32,
    t: text(300),
    n: text(300),
    tok: text(5000),
    ts: uint,
    sq: uint,
    mac: fc.uint8Array({ minLength: 0, maxLength: 40 }),
    code: text(80),
    msg: text(3000),
  },
  { requiredKeys: ["k", "id"] },
);

function slowDecode(frame: Uint8Array): unknown {
  const len = Buffer.from(frame.buffer, frame.byteOffset, 4).readUInt32BE(0);
  try {
    return headerSchema.parse(decode(frame.subarray(4, 4 + len), { maxMessageBytes: 16 * 1024, maxDepth: 4 }));
  } catch {
    return "refused";
  }
}

test("the fast header encoder writes exactly what the wire encoder writes", () => {
  fc.assert(
    fc.property(header, (h) => {
      assert.deepEqual(Buffer.from(encodeHeaderFast(h) ?? []), Buffer.from(encode(h)));
      assert.deepEqual(Buffer.from(encodeHeaderFast(h, 4) ?? []), Buffer.concat([Buffer.alloc(4), encode(h)]));
    }),
    { numRuns: 500 },
  );
});

test("decodeEnvelope agrees with MessagePack + headerSchema on every header, valid or not", () => {
  fc.assert(
    fc.property(header, fc.uint8Array({ maxLength: 8 }), (h, body) => {
      const frame = Buffer.concat(encodeEnvelope(h as never, [body]));
      const expected = slowDecode(frame);
      let got: unknown;
      try {
        const env = decodeEnvelope(frame);
        got = env.header;
        assert.deepEqual(Buffer.from(env.body), Buffer.from(body));
      } catch {
        got = "refused";
      }
      if (expected === "refused" || got === "refused") assert.equal(got, expected);
      else {
        // Byte fields may come back as Buffer or Uint8Array: compare their bytes.
        const bytes = (x: unknown) => ({ ...(x as object), mac: (x as { mac?: Uint8Array }).mac && Buffer.from((x as { mac: Uint8Array }).mac) });
        assert.deepEqual(bytes(got), bytes(expected));
      }
    }),
    { numRuns: 500 },
  );
});

test("headers with unknown or prototype keys are refused by both paths; a duplicate key decodes as the generic path decodes it", () => {
  // fixmap 2: "k":"ping", "__proto__": 1
  const proto = Buffer.from([0x82, 0xa1, 0x6b, 0xa4, 0x70, 0x69, 0x6e, 0x67, 0xa9, ...Buffer.from("__proto__"), 0x01]);
  const id = Buffer.from("00112233445566778899aabbccddeeff");
  // fixmap 3: "k":"ping", "id":<32 hex>, "zz":1 (a key headerSchema does not know)
  const unknown = Buffer.from([0x83, 0xa1, 0x6b, 0xa4, 0x70, 0x69, 0x6e, 0x67, 0xa2, 0x69, 0x64, 0xd9, 0x20, ...id, 0xa2, 0x7a, 0x7a, 0x01]);
  // fixmap 3: "k":"ping", "id":<32 hex>, "k":"req"
  const dup = Buffer.from([0x83, 0xa1, 0x6b, 0xa4, 0x70, 0x69, 0x6e, 0x67, 0xa2, 0x69, 0x64, 0xd9, 0x20, ...id, 0xa1, 0x6b, 0xa3, 0x72, 0x65, 0x71]);
  const frame = (h: Buffer): Buffer => Buffer.concat([Buffer.from([0, 0, 0, h.length]), h]);
  for (const [name, h] of [
    ["__proto__", proto],
    ["unknown key", unknown],
  ] as const) {
    // Both must refuse: the generic path (the reference) and decodeEnvelope (fast path + fallback).
    assert.equal(slowDecode(frame(h)), "refused", `${name}: the generic path refuses it`);
    assert.throws(() => decodeEnvelope(frame(h)), `${name}: decodeEnvelope refuses it`);
  }
  // MessagePack maps may repeat a key; the generic decoder keeps the last one, and the fast path must
  // not pick another (the MAC and the dispatch both use this one decoded header).
  assert.deepEqual(slowDecode(frame(dup)), { k: "req", id: id.toString() });
  assert.deepEqual(decodeEnvelope(frame(dup)).header, { k: "req", id: id.toString() });
});
