import { test } from "node:test";
import assert from "node:assert/strict";
import { decode, encode, registerType, registeredTypes } from "../../src/wire/index.js";
import { cat, ext, hex, mp, throwsWire } from "./helpers.js";

class Histogram {
  constructor(
    readonly bins: Float64Array,
    readonly label: string,
  ) {}
}

registerType({
  name: "acme.Histogram",
  code: 40,
  type: Histogram,
  decompose: (h) => ({ bins: h.bins, label: h.label }),
  recompose: (state) => {
    const s = state as { bins?: unknown; label?: unknown };
    if (!(s.bins instanceof Float64Array) || typeof s.label !== "string") throw new Error("bad histogram");
    return new Histogram(s.bins, s.label);
  },
});

test("an application type round-trips through its registration", () => {
  const h = new Histogram(new Float64Array([1, 2, 3]), "loss");
  const out = decode(encode({ h }));
  assert.ok((out as { h: unknown }).h instanceof Histogram);
  assert.deepEqual(out, { h });
  assert.ok(registeredTypes().some((t) => t.name === "acme.Histogram" && t.code === 40));
});

test("the wire bytes of a registered type are [name, state] under its code", () => {
  const bytes = encode(new Histogram(new Float64Array(0), "x"));
  const payload = cat(hex("92"), mp("acme.Histogram"));
  assert.equal(bytes[0], 0xc7); // ext 8
  assert.equal(bytes[2], 40);
  assert.deepEqual(bytes.subarray(3, 3 + payload.byteLength), payload);
});

test("a second registration of a name, code or class is refused", () => {
  class Other {}
  const base = { decompose: () => 0, recompose: () => new Other() };
  throwsWire(() => registerType({ name: "acme.Histogram", code: 41, type: Other, ...base }), "ERR_WIRE_REGISTRY");
  throwsWire(() => registerType({ name: "acme.Other", code: 40, type: Other, ...base }), "ERR_WIRE_REGISTRY");
  throwsWire(
    () => registerType({ name: "acme.Again", code: 42, type: Histogram, decompose: () => 0, recompose: () => new Histogram(new Float64Array(), "") }),
    "ERR_WIRE_REGISTRY",
  );
});

test("reserved codes, reserved names, native classes and bad names are refused", () => {
  class Other {}
  const base = { decompose: () => 0, recompose: () => new Other() };
  throwsWire(() => registerType({ name: "acme.Low", code: 3, type: Other, ...base }), "ERR_WIRE_REGISTRY");
  throwsWire(() => registerType({ name: "acme.High", code: 128, type: Other, ...base }), "ERR_WIRE_REGISTRY");
  throwsWire(() => registerType({ name: "cohort.Mine", code: 50, type: Other, ...base }), "ERR_WIRE_REGISTRY");
  throwsWire(() => registerType({ name: "../evil", code: 51, type: Other, ...base }), "ERR_WIRE_REGISTRY");
  throwsWire(() => registerType({ name: "acme.Map", code: 52, type: Map, decompose: () => 0, recompose: () => new Map() }), "ERR_WIRE_REGISTRY");
});

test("a recompose that throws becomes ERR_WIRE_INVALID_VALUE naming the type", () => {
  const bytes = ext(40, cat(hex("92"), mp("acme.Histogram"), mp({ bins: "nope", label: 1 })));
  const err = throwsWire(() => decode(bytes), "ERR_WIRE_INVALID_VALUE");
  assert.equal(err.details.typeName, "acme.Histogram");
  assert.equal(err.details.offset, 3);
});

test("a subclass of a registered class is not silently encoded as its parent", () => {
  class Sub extends Histogram {}
  throwsWire(() => encode(new Sub(new Float64Array(0), "s")), "ERR_WIRE_UNSUPPORTED_VALUE");
});
