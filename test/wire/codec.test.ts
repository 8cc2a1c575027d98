import { test } from "node:test";
import assert from "node:assert/strict";
import { CohortError, isCohortError } from "../../src/errors/index.js";
import { DXO, FLModel, Shareable, Tensor, WireError, decode, encode, encodeParts, concatParts } from "../../src/wire/index.js";
import { mp, throwsWire } from "./helpers.js";

test("native values round-trip", () => {
  const value = {
    nil: null,
    t: true,
    f: false,
    int: -17,
    big: 2 ** 53 - 1,
    neg: -(2 ** 40),
    float: 0.1,
    nan: Number.NaN,
    inf: -Infinity,
    s: "héllo ✓",
    bytes: new Uint8Array([0, 255]),
    arr: [1, "two", [3]],
    nested: { a: { b: {} } },
    map: new Map<unknown, unknown>([
      [1, "one"],
      [{ k: 1 }, [2]],
    ]),
    date: new Date(1_700_000_000_123),
    bi: 12n,
    bigNeg: -(2n ** 100n),
  };
  assert.deepEqual(decode(encode(value)), value);
});

test("typed arrays come back as the same class, small ones inline and large ones as views", () => {
  const small = new Int16Array([1, -2, 3]);
  const large = new Float32Array(100_000).map((_, i) => i / 3);
  const bytes = encode({ small, large });
  const out = decode(bytes) as { small: Int16Array; large: Float32Array };
  assert.ok(out.small instanceof Int16Array);
  assert.deepEqual(out.small, small);
  assert.ok(out.large instanceof Float32Array);
  assert.deepEqual(out.large, large);
  assert.equal(out.large.buffer, bytes.buffer, "large arrays are views into the received bytes");
});

test("a misaligned frame still decodes (one copy instead of a view)", () => {
  const large = new Float64Array(20_000).map((_, i) => i * 1.25);
  const bytes = encode(large);
  const shifted = new Uint8Array(bytes.byteLength + 3).subarray(3);
  shifted.set(bytes);
  assert.deepEqual(decode(shifted), large);
});

test("encodeParts writes the large array once, as a view of the caller's memory", () => {
  const data = new Float32Array(50_000);
  const parts = encodeParts({ w: data });
  assert.ok(parts.some((p) => p.buffer === data.buffer));
  assert.deepEqual(decode(concatParts(parts)), { w: data });
  assert.deepEqual(concatParts(parts), encode({ w: data }));
});

test("values without large arrays encode as plain MessagePack", () => {
  const value = { task: "train", round: 3, ok: true };
  assert.deepEqual(encode(value), mp(value));
  assert.deepEqual(decode(mp(value)), value);
});

test("plain MessagePack from another library decodes", () => {
  assert.deepEqual(decode(mp({ a: [1, 2.5, "x", null], b: new Uint8Array([9]) })), { a: [1, 2.5, "x", null], b: new Uint8Array([9]) });
  // Integers written as uint64/int64 but within the safe range decode as numbers.
  assert.equal(decode(Uint8Array.of(0xcf, 0, 0, 0, 1, 0, 0, 0, 0)), 2 ** 32);
  assert.equal(decode(Uint8Array.of(0xd3, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xfe)), -2);
});

test("FL objects round-trip", () => {
  const w = new Tensor(new Float32Array(12).fill(0.5), [3, 4]);
  const model = new FLModel({
    params: { "layer.0.weight": w },
    paramsType: "DIFF",
    metrics: { acc: 0.9 },
    meta: { site: "site-1" },
    currentRound: 2,
    totalRounds: 10,
  });
  const dxo = new DXO({ dataKind: "COLLECTION", data: { a: new DXO({ dataKind: "METRICS", data: { loss: 0.1 } }) } });
  const shareable = new Shareable({ headers: { task_name: "train", rc: "OK" }, data: { DXO: dxo, model } });
  const out = decode(encode(shareable));
  assert.ok(out instanceof Shareable);
  assert.deepEqual(out, shareable);
  const outModel = out.data.model as FLModel;
  assert.ok(outModel instanceof FLModel && outModel.params["layer.0.weight"] instanceof Tensor);
});

test("encode refuses values it cannot represent exactly or safely", () => {
  class Unregistered {
    x = 1;
  }
  throwsWire(() => encode(new Unregistered()), "ERR_WIRE_UNSUPPORTED_VALUE");
  throwsWire(() => encode({ f: () => 1 }), "ERR_WIRE_UNSUPPORTED_VALUE");
  throwsWire(() => encode(Symbol("s")), "ERR_WIRE_UNSUPPORTED_VALUE");
  throwsWire(() => encode(new Set([1])), "ERR_WIRE_UNSUPPORTED_VALUE");
  throwsWire(() => encode(new Uint8ClampedArray(2)), "ERR_WIRE_UNSUPPORTED_VALUE");
  throwsWire(() => encode(new Date(Number.NaN)), "ERR_WIRE_UNSUPPORTED_VALUE");
  const cycle: Record<string, unknown> = {};
  cycle.self = cycle;
  throwsWire(() => encode(cycle), "ERR_WIRE_TOO_DEEP");
  throwsWire(() => new Tensor(new Float32Array(5), [2, 2]), "ERR_WIRE_TENSOR_SHAPE");
});

test("errors are CohortErrors with a stable code", () => {
  try {
    decode(Uint8Array.of(0xc1));
    assert.fail("no error");
  } catch (err) {
    assert.ok(err instanceof WireError && err instanceof CohortError);
    assert.ok(isCohortError(err, err.code));
    assert.match(err.code, /^ERR_WIRE_/);
  }
});
