import fc from "fast-check";
import { DXO, FLModel, Shareable, Tensor, DATA_KINDS, type TypedArray } from "../../src/wire/index.js";

/** fast-check generators for every kind of value the wire carries (shared by property tests and fuzz). */

const FORBIDDEN = new Set(["__proto__", "constructor", "prototype"]);
export const key = fc.string({ unit: "binary", maxLength: 12 }).filter((k) => !FORBIDDEN.has(k));

// -0 is the one number MessagePack libraries write as the integer 0; see docs/protocol.md.
export const number = fc.oneof(
  fc.integer(),
  fc.maxSafeInteger(),
  fc.double().filter((d) => !Object.is(d, -0)),
);

export const typedArray: fc.Arbitrary<TypedArray> = fc.oneof(
  fc.int8Array({ maxLength: 40 }),
  fc.uint8Array({ maxLength: 40 }),
  fc.int16Array({ maxLength: 40 }),
  fc.uint16Array({ maxLength: 40 }),
  fc.int32Array({ maxLength: 40 }),
  fc.uint32Array({ maxLength: 40 }),
  fc.float32Array({ maxLength: 40 }),
  fc.float64Array({ maxLength: 40 }),
  fc.bigInt64Array({ maxLength: 20 }),
);

export const tensor: fc.Arbitrary<Tensor> = typedArray.chain((data) =>
  fc.constantFrom<number[]>([data.length], [1, data.length], [data.length, 1, 1]).map((shape) => new Tensor(data, shape)),
);

export const primitive = fc.oneof(
  fc.constant(null),
  fc.boolean(),
  number,
  fc.bigInt(),
  fc.string({ unit: "binary", maxLength: 30 }),
  fc.date({ noInvalidDate: true }),
);

const { value } = fc.letrec<{ value: unknown; record: Record<string, unknown> }>((tie) => ({
  value: fc.oneof(
    { depthSize: "small", withCrossShrink: true },
    primitive,
    typedArray,
    tensor,
    fc.array(tie("value"), { maxLength: 5 }),
    tie("record"),
    fc.array(fc.tuple(fc.oneof(primitive, key), tie("value")), { maxLength: 4 }).map((entries) => new Map(entries)),
    fc
      .record({ kind: fc.constantFrom(...DATA_KINDS.filter((k) => k !== "COLLECTION")), data: tie("record"), meta: tie("record") })
      .map(({ kind, data, meta }) => new DXO({ dataKind: kind, data, meta }) as unknown),
    fc
      .record({
        params: fc.dictionary(key, tensor, { maxKeys: 3, noNullPrototype: true }),
        paramsType: fc.constantFrom("FULL" as const, "DIFF" as const, null),
        metrics: fc.option(fc.dictionary(key, number, { maxKeys: 3, noNullPrototype: true })),
        meta: tie("record"),
        currentRound: fc.option(fc.nat()),
        totalRounds: fc.option(fc.nat()),
      })
      .map((init) => new FLModel(init) as unknown),
    fc.record({ headers: tie("record"), data: tie("record") }).map((init) => new Shareable(init) as unknown),
  ),
  record: fc.dictionary(key, tie("value"), { maxKeys: 4, noNullPrototype: true }),
}));

export const wireValue: fc.Arbitrary<unknown> = value;
