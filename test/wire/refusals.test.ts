import { test } from "node:test";
import assert from "node:assert/strict";
import { Tensor, decode, encode } from "../../src/wire/index.js";
import { cat, ext, hex, mp, throwsWire } from "./helpers.js";

const str = (s: string): Uint8Array => mp(s);

test("an unregistered extension code is refused with its offset", () => {
  const err = throwsWire(() => decode(cat(hex("92 01"), ext(99, Uint8Array.of(0)))), "ERR_WIRE_UNKNOWN_TYPE");
  assert.equal(err.details.extCode, 99);
  assert.equal(err.details.offset, 2);
  assert.equal(err.details.path, "$[1]");
  assert.match(err.message, /offset 2, path \$\[1\]/);
  throwsWire(() => decode(ext(-5, Uint8Array.of(0))), "ERR_WIRE_UNKNOWN_TYPE");
});

test("a type name that does not match the registered code is refused", () => {
  // Extension 3 is cohort.Tensor; a peer naming anything else under it (a module, a class) is refused.
  const payload = cat(hex("92"), str("os.system"), mp(["rm -rf /"]));
  const err = throwsWire(() => decode(cat(hex("81"), str("x"), ext(3, payload))), "ERR_WIRE_UNKNOWN_TYPE");
  assert.equal(err.details.typeName, "os.system");
  assert.equal(err.details.path, "$.x");
});

for (const key of ["__proto__", "constructor", "prototype"]) {
  test(`map key "${key}" is refused`, () => {
    const err = throwsWire(() => decode(cat(hex("81"), str("a"), hex("81"), str(key), hex("c0"))), "ERR_WIRE_FORBIDDEN_KEY");
    assert.equal(err.details.key, key);
    assert.equal(err.details.path, "$.a");
    assert.equal(err.details.offset, 4);
  });
}

test("non-string map keys are refused (Map is the way to send them)", () => {
  throwsWire(() => decode(hex("81 01 02")), "ERR_WIRE_KEY_TYPE");
});

test("nesting deeper than the limit is refused, without recursion blowing the stack", () => {
  const deep = new Uint8Array(100_001).fill(0x91);
  deep[100_000] = 0xc0;
  const err = throwsWire(() => decode(deep), "ERR_WIRE_TOO_DEEP");
  assert.equal(err.details.maxDepth, 64);
  throwsWire(() => decode(hex("91 91 91 c0"), { maxDepth: 3 }), "ERR_WIRE_TOO_DEEP");
  assert.deepEqual(decode(hex("91 91 c0"), { maxDepth: 3 }), [[null]]);
  // Registered types count towards depth too.
  throwsWire(() => decode(encode([new Tensor(new Float32Array(1))]), { maxDepth: 2 }), "ERR_WIRE_TOO_DEEP");
});

test("a message larger than the configured maximum is refused before parsing", () => {
  const bytes = encode({ text: "x".repeat(100) });
  const err = throwsWire(() => decode(bytes, { maxMessageBytes: 50 }), "ERR_WIRE_TOO_LARGE");
  assert.equal(err.details.maxMessageBytes, 50);
});

test("length prefixes larger than the remaining bytes are refused", () => {
  for (const h of [
    "db ffffffff 61", // str32
    "c6 ffffffff 00", // bin32
    "dd ffffffff c0", // array32 of 4G elements in 1 byte
    "df 00010000 a1 61 c0", // map32
    "c9 ffffffff 03 00", // ext32
    "a5 61 62", // fixstr 5 with 2 bytes
    "cb 00 00", // float64 cut short
    "92 01", // array missing an element
  ]) {
    const err = throwsWire(() => decode(hex(h)), "ERR_WIRE_TRUNCATED");
    assert.equal(typeof err.details.offset, "number", h);
  }
  throwsWire(() => decode(new Uint8Array(0)), "ERR_WIRE_TRUNCATED");
});

test("tensor byte length must match dtype x shape", () => {
  const state = (dtype: string, shape: number[], bytes: number): Uint8Array =>
    ext(3, cat(hex("92"), str("cohort.Tensor"), mp([dtype, shape, new Uint8Array(bytes)])));
  assert.ok(decode(state("float32", [2, 3], 24)) instanceof Tensor);
  const err = throwsWire(() => decode(state("float32", [2, 3], 20)), "ERR_WIRE_TENSOR_SHAPE");
  assert.equal(err.details.expectedBytes, 24);
  assert.equal(err.details.offset, 3);
  throwsWire(() => decode(state("float32", [-1], 0)), "ERR_WIRE_TENSOR_SHAPE");
  throwsWire(() => decode(state("float32", [2 ** 40, 2 ** 40], 0)), "ERR_WIRE_TENSOR_SHAPE");
  // A typed array whose bytes are not whole elements.
  throwsWire(() => decode(ext(1, Uint8Array.of(7, 1, 2, 3))), "ERR_WIRE_TENSOR_SHAPE");
});

test("an unknown dtype is refused", () => {
  const err = throwsWire(() => decode(ext(3, cat(hex("92"), str("cohort.Tensor"), mp(["float128", [1], new Uint8Array(16)])))), "ERR_WIRE_UNKNOWN_DTYPE");
  assert.equal(err.details.dtype, "float128");
  throwsWire(() => decode(ext(1, Uint8Array.of(200, 0))), "ERR_WIRE_UNKNOWN_DTYPE");
});

test("64-bit integers beyond what a number holds exactly are refused, not rounded", () => {
  throwsWire(() => decode(hex("cf 00 20 00 00 00 00 00 00")), "ERR_WIRE_INT_RANGE");
  throwsWire(() => decode(hex("d3 ff e0 00 00 00 00 00 00")), "ERR_WIRE_INT_RANGE");
  assert.equal(decode(hex("cf 00 1f ff ff ff ff ff ff")), Number.MAX_SAFE_INTEGER);
});

test("registered-type state is validated by recompose", () => {
  const dxo = (state: unknown): Uint8Array => ext(7, cat(hex("92"), str("cohort.DXO"), mp(state)));
  const err = throwsWire(() => decode(dxo({ data_kind: "EXEC", data: {}, meta: {} })), "ERR_WIRE_INVALID_VALUE");
  assert.equal(err.details.typeName, "cohort.DXO");
  throwsWire(() => decode(dxo({ data_kind: "WEIGHTS", data: [1], meta: {} })), "ERR_WIRE_INVALID_VALUE");
  throwsWire(() => decode(ext(4, cat(hex("92"), str("cohort.BigInt"), str("12e3")))), "ERR_WIRE_INVALID_VALUE");
  throwsWire(() => decode(ext(4, cat(hex("92"), str("cohort.BigInt"), str("9".repeat(5000))))), "ERR_WIRE_INVALID_VALUE");
});

test("malformed frames are refused", () => {
  const good = encode({ w: new Float32Array(20_000) });
  assert.ok(good[0] === 0xc1);
  const tamper = (offset: number, value: number): Uint8Array => {
    const copy = good.slice();
    copy[offset] = value;
    return copy;
  };
  throwsWire(() => decode(tamper(4, 2)), "ERR_WIRE_MALFORMED"); // version
  throwsWire(() => decode(tamper(5, 13)), "ERR_WIRE_MALFORMED"); // alignment beyond 2^12
  throwsWire(() => decode(tamper(5, 2)), "ERR_WIRE_MALFORMED"); // alignment below 2^3
  throwsWire(() => decode(tamper(6, 1)), "ERR_WIRE_MALFORMED"); // reserved
  throwsWire(() => decode(tamper(good.byteLength - 1, 1)), "ERR_WIRE_MALFORMED"); // padding byte
  throwsWire(() => encode(new Float32Array(20_000), { alignLog2: 20 }), "ERR_WIRE_INVALID_VALUE");
  throwsWire(() => decode(tamper(1, 0)), "ERR_WIRE_MALFORMED"); // magic
  throwsWire(() => decode(tamper(9, 0x10)), "ERR_WIRE_TRUNCATED"); // section count
  throwsWire(() => decode(tamper(23, 0x01)), "ERR_WIRE_TRUNCATED"); // section length high byte
  throwsWire(() => decode(cat(good, new Uint8Array(8))), "ERR_WIRE_MALFORMED"); // trailing bytes
  throwsWire(() => decode(good.subarray(0, good.byteLength - 8)), "ERR_WIRE_TRUNCATED");
  // Two references to one section would alias memory; a section nobody references is refused too.
  const twice = encode([new Float32Array(20_000), new Float32Array(20_000)]);
  const view = new DataView(twice.buffer);
  const bodyStart = 16 + 16;
  // body: 92 c7 05 02 <dtype> <u32 index> ... ; point the second reference at section 0
  assert.equal(twice[bodyStart + 8 + 3], 2);
  view.setUint32(bodyStart + 8 + 5, 0, true);
  throwsWire(() => decode(twice), "ERR_WIRE_MALFORMED");
});

test("a decoded map naming a type is just data: nothing from the wire picks code to run", () => {
  const hostile = { __fobs_type__: "os.system", __fobs_dc__: "nvflare.Evil", __fobs_data__: "id" };
  const out = decode(mp(hostile));
  assert.deepEqual(out, hostile);
  assert.equal(Object.getPrototypeOf(out), Object.prototype);
});
