import { test } from "node:test";
import assert from "node:assert/strict";
import fc from "fast-check";
import { decode, encode, encodeParts, concatParts } from "../../src/wire/index.js";
import { tensor, typedArray, wireValue } from "./arbitraries.js";

const runs = { numRuns: 300 };

test("every registered kind round-trips exactly (inline)", () => {
  fc.assert(
    fc.property(wireValue, (value) => {
      assert.deepStrictEqual(decode(encode(value)), value);
    }),
    runs,
  );
});

test("every registered kind round-trips exactly with arrays framed as sections", () => {
  fc.assert(
    fc.property(wireValue, (value) => {
      const parts = encodeParts(value, { sectionThreshold: 8 });
      assert.deepStrictEqual(decode(concatParts(parts)), value);
    }),
    runs,
  );
});

test("typed arrays and tensors keep their class", () => {
  fc.assert(
    fc.property(typedArray, tensor, (array, t) => {
      const out = decode(encode({ array, t }, { sectionThreshold: 16 })) as { array: unknown; t: { data: unknown } };
      assert.equal(Object.getPrototypeOf(out.array), Object.getPrototypeOf(array));
      assert.equal(Object.getPrototypeOf(out.t.data), Object.getPrototypeOf(t.data));
    }),
    runs,
  );
});

test("encoding is deterministic", () => {
  fc.assert(
    fc.property(wireValue, (value) => {
      assert.deepStrictEqual(encode(value), encode(value));
    }),
    { numRuns: 100 },
  );
});
