// The test vectors of docs/protocol.md: if an encoding changes, this fails and the document must change too.
import { test } from "node:test";
import assert from "node:assert/strict";
import { DXO, FLModel, Shareable, Tensor, chunkPayload, concatParts, decode, encode } from "../../src/wire/index.js";
import { hex, throwsWire } from "./helpers.js";

const vectors: Array<[string, unknown, string, { sectionThreshold: number; alignLog2: number }?]> = [
  ["control map", { task: "train", round: 3 }, "82 a4 74 61 73 6b a5 74 72 61 69 6e a5 72 6f 75 6e 64 03"],
  ["Date", new Date(0), "d6 ff 00 00 00 00"],
  ["Float32Array inline", new Float32Array([1, 2]), "c7 09 01 07 00 00 80 3f 00 00 00 40"],
  [
    "Tensor",
    new Tensor(new Float32Array([1, 2]), [1, 2]),
    "c7 25 03 92 ad 63 6f 68 6f 72 74 2e 54 65 6e 73 6f 72 93 a7 66 6c 6f 61 74 33 32 92 01 02 c4 08 00 00 80 3f 00 00 00 40",
  ],
  ["bigint", 2n ** 64n, "c7 24 04 92 ad 63 6f 68 6f 72 74 2e 42 69 67 49 6e 74 b4 31 38 34 34 36 37 34 34 30 37 33 37 30 39 35 35 31 36 31 36"],
  ["Map", new Map([[1, "a"]]), "d8 05 92 aa 63 6f 68 6f 72 74 2e 4d 61 70 92 01 a1 61"],
  [
    "DXO",
    new DXO({ dataKind: "METRICS", data: { acc: 0.5 } }),
    "c7 38 07 92 aa 63 6f 68 6f 72 74 2e 44 58 4f 83 a9 64 61 74 61 5f 6b 69 6e 64 a7 4d 45 54 52 49 43 53 a4 64 61 74 61 81 a3 61 63 63 cb 3f e0 00 00 00 00 00 00 a4 6d 65 74 61 80",
  ],
  [
    "FLModel",
    new FLModel({ params: {}, paramsType: "FULL", currentRound: 1, totalRounds: 2 }),
    "c7 56 08 92 ae 63 6f 68 6f 72 74 2e 46 4c 4d 6f 64 65 6c 86 a6 70 61 72 61 6d 73 80 ab 70 61 72 61 6d 73 5f 74 79 70 65 a4 46 55 4c 4c a7 6d 65 74 72 69 63 73 c0 a4 6d 65 74 61 80 ad 63 75 72 72 65 6e 74 5f 72 6f 75 6e 64 01 ac 74 6f 74 61 6c 5f 72 6f 75 6e 64 73 02",
  ],
  [
    "Shareable",
    new Shareable({ headers: { rc: "OK" }, data: {} }),
    "c7 28 06 92 b0 63 6f 68 6f 72 74 2e 53 68 61 72 65 61 62 6c 65 82 a7 68 65 61 64 65 72 73 81 a2 72 63 a2 4f 4b a4 64 61 74 61 80",
  ],
  [
    "frame",
    { w: new Float32Array([1, 2, 3]) },
    "c1 43 57 46 01 03 00 00 01 00 00 00 0b 00 00 00 0c 00 00 00 00 00 00 00 81 a1 77 c7 05 02 07 00 00 00 00 00 00 00 00 00 00 00 80 3f 00 00 00 40 00 00 40 40 00 00 00 00",
    { sectionThreshold: 8, alignLog2: 3 },
  ],
];

for (const [name, value, bytes, options] of vectors) {
  test(`vector: ${name}`, () => {
    assert.deepEqual(encode(value, options), hex(bytes));
    assert.deepEqual(decode(hex(bytes)), value);
  });
}

test("vector: stream of 'hello' in 4-byte chunks", () => {
  const id = Uint8Array.from({ length: 16 }, (_, i) => i);
  const chunks = [...chunkPayload(new TextEncoder().encode("hello"), { chunkBytes: 4, streamId: id }).chunks].map(concatParts);
  const head = (kind: string, index: string, len: string): string =>
    `c1 43 53 43 01 ${kind} 00 00 00 01 02 03 04 05 06 07 08 09 0a 0b 0c 0d 0e 0f ${index} 00 00 00 ${len} 00 00 00 05 00 00 00 00 00 00 00`;
  assert.deepEqual(chunks, [
    hex(`${head("01", "00", "04")} 68 65 6c 6c`),
    hex(`${head("01", "01", "01")} 6f`),
    hex(`${head("02", "02", "20")} 2c f2 4d ba 5f b0 a3 0e 26 e8 3b 2a c5 b9 e2 9e 1b 16 1e 5c 1f a7 42 5e 73 04 33 62 93 8b 98 24`),
  ]);
});

test("hostile vectors of docs/protocol.md are refused as documented", () => {
  const cases: Array<[string, string, number?]> = [
    ["81 a9 5f 5f 70 72 6f 74 6f 5f 5f c0", "ERR_WIRE_FORBIDDEN_KEY", 1],
    ["d4 63 00", "ERR_WIRE_UNKNOWN_TYPE", 0],
    ["dd ff ff ff ff c0", "ERR_WIRE_TRUNCATED"],
    ["cf 00 20 00 00 00 00 00 00", "ERR_WIRE_INT_RANGE"],
  ];
  for (const [bytes, code, offset] of cases) {
    const err = throwsWire(() => decode(hex(bytes)), code as "ERR_WIRE_MALFORMED");
    if (offset !== undefined) assert.equal(err.details.offset, offset, bytes);
  }
});
