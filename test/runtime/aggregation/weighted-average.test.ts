import { test } from "node:test";
import assert from "node:assert/strict";
import fc from "fast-check";
import { isCohortError } from "../../../src/errors/index.js";
import { WeightedAggregator, type ModelUpdate, type Params } from "../../../src/runtime/aggregation/index.js";
import { createRng } from "../../../src/runtime/learn/index.js";

const shapes = { "dense1.weight": [3, 4], "dense1.bias": [3] };

function randomParams(seed: number, scale = 1): Params {
  const rng = createRng(seed);
  return {
    "dense1.weight": Float32Array.from({ length: 12 }, () => (rng() * 2 - 1) * scale),
    "dense1.bias": Float32Array.from({ length: 3 }, () => (rng() * 2 - 1) * scale),
  };
}

/** The weighted mean computed naively in double precision. */
function reference(updates: ModelUpdate[]): Record<string, number[]> {
  const total = updates.reduce((a, u) => a + u.weight, 0);
  const out: Record<string, number[]> = {};
  for (const name of Object.keys(shapes)) {
    const n = updates[0]!.params[name]!.length;
    out[name] = Array.from({ length: n }, (_, i) => updates.reduce((a, u) => a + u.weight * u.params[name]![i]!, 0) / total);
  }
  return out;
}

function assertClose(actual: Params, expected: Record<string, number[]>, tolerance = 1e-5): void {
  assert.deepEqual(Object.keys(actual).sort(), Object.keys(expected).sort());
  for (const [name, values] of Object.entries(expected)) {
    values.forEach((v, i) => assert.ok(Math.abs(actual[name]![i]! - v) <= tolerance * (1 + Math.abs(v)), `${name}[${i}] ${actual[name]![i]} vs ${v}`));
  }
}

for (const accumulator of ["float32", "float64"] as const) {
  test(`exact weighted mean vs a reference (${accumulator} accumulator)`, async () => {
    const agg = new WeightedAggregator(shapes, { accumulator });
    const updates = [1, 2, 3, 4].map((s) => ({ site: `site-${s}`, params: randomParams(s), weight: s * 100 }));
    await Promise.all(updates.map((u) => agg.submit(u)));
    const result = agg.result();
    assertClose(result.params, reference(updates), accumulator === "float64" ? 1e-7 : 1e-6);
    assert.equal(result.totalWeight, 1000);
    assert.deepEqual([...result.accepted].sort(), ["site-1", "site-2", "site-3", "site-4"]);
    assert.deepEqual(result.rejected, []);
    assert.ok(result.params["dense1.bias"] instanceof Float32Array);
  });
}

/** Each poisoned variant of a valid update, with what the refusal must say. */
const poisons: Array<[string, (p: Params) => Partial<ModelUpdate>, RegExp, string | undefined]> = [
  ["missing parameter", (p) => ({ params: { "dense1.weight": p["dense1.weight"]! } }), /missing parameter dense1.bias/, "dense1.bias"],
  ["extra parameter", (p) => ({ params: { ...p, "dense9.weight": new Float32Array(1) } }), /unexpected parameter dense9.weight/, "dense9.weight"],
  ["wrong length", (p) => ({ params: { ...p, "dense1.bias": new Float32Array(4) } }), /dense1.bias has 4 values, expected 3/, "dense1.bias"],
  ["wrong dtype", (p) => ({ params: { ...p, "dense1.bias": new Float64Array(3) as unknown as Float32Array } }), /must be float32/, "dense1.bias"],
  [
    "NaN",
    (p) => ({ params: { ...p, "dense1.weight": Float32Array.from(p["dense1.weight"]!, (v, i) => (i === 7 ? NaN : v)) } }),
    /NaN at index 7/,
    "dense1.weight",
  ],
  ["Infinity", (p) => ({ params: { ...p, "dense1.bias": Float32Array.of(0, -Infinity, 0) } }), /-Infinity at index 1/, "dense1.bias"],
  ["weight 0", () => ({ weight: 0 }), /weight must be a finite number > 0/, undefined],
  ["negative weight", () => ({ weight: -5 }), /weight must be/, undefined],
  ["NaN weight", () => ({ weight: NaN }), /weight must be/, undefined],
  [
    "norm over the bound",
    (p) => ({ params: { ...p, "dense1.weight": p["dense1.weight"]!.map((v) => v * 1000) } }),
    /L2 norm of the update .* over the bound 5/,
    undefined,
  ],
];

for (const [name, poison, message, parameter] of poisons) {
  test(`rejects ${name} and leaves the result unchanged`, async () => {
    const global = randomParams(99, 0.1);
    const make = (): WeightedAggregator => new WeightedAggregator(shapes, { normBound: 5, global });
    const good = [
      { site: "a", params: randomParams(1), weight: 10 },
      { site: "b", params: randomParams(2), weight: 30 },
    ];
    const clean = make();
    for (const u of good) await clean.submit(u);
    const expected = clean.result().params;

    const agg = make();
    await agg.submit(good[0]!);
    const bad = { site: "evil", params: randomParams(3), weight: 20, ...poison(randomParams(3)) };
    await assert.rejects(agg.submit(bad), (err) => {
      assert.ok(isCohortError(err, "ERR_AGGREGATE_REJECTED"), String(err));
      assert.match(err.message, message);
      assert.equal(err.details["site"], "evil");
      assert.equal(err.details["parameter"], parameter);
      return true;
    });
    await agg.submit(good[1]!);
    const result = agg.result();
    assert.deepEqual(result.params, expected, "bit-identical to the run without the poisoned update");
    assert.deepEqual(result.accepted, ["a", "b"]);
    assert.equal(result.rejected.length, 1);
    assert.equal(result.rejected[0]?.site, "evil");
    assert.match(result.rejected[0]?.reason ?? "", message);
  });
}

test("norm bound on the params themselves when no global model is given", async () => {
  const agg = new WeightedAggregator(shapes, { normBound: 3 });
  await agg.submit({ site: "ok", params: randomParams(1, 0.1), weight: 1 });
  await assert.rejects(agg.submit({ site: "big", params: randomParams(2, 10), weight: 1 }), /L2 norm of the params/);
});

test("a site contributes at most once per round; reset() starts the next", async () => {
  const agg = new WeightedAggregator(shapes);
  await agg.submit({ site: "a", params: randomParams(1), weight: 1 });
  await assert.rejects(agg.submit({ site: "a", params: randomParams(2), weight: 1 }), /duplicate/);
  const first = agg.result().params;
  assert.equal(agg.result().params, first, "result() is idempotent");
  await assert.rejects(agg.submit({ site: "b", params: randomParams(2), weight: 1 }), /reset\(\)/);
  agg.reset();
  await agg.submit({ site: "a", params: randomParams(3), weight: 1 });
  assertClose(agg.result().params, reference([{ site: "a", params: randomParams(3), weight: 1 }]));
  assertClose(first, reference([{ site: "a", params: randomParams(1), weight: 1 }]), 0);
});

test("result() with nothing accepted is refused", async () => {
  const agg = new WeightedAggregator(shapes);
  await assert.rejects(agg.submit({ site: "x", params: randomParams(1), weight: 0 }));
  assert.throws(
    () => agg.result(),
    (err) => isCohortError(err, "ERR_AGGREGATE_EMPTY"),
  );
});

test("at most K updates are staged at once; the rest wait and all are folded", async () => {
  const big = { w: [1 << 16] };
  for (const maxStaged of [1, 2, 3]) {
    // A small slice makes every fold yield many times, so submits genuinely overlap.
    const agg = new WeightedAggregator(big, { maxStaged, sliceElements: 1024 });
    let maxSeen = 0;
    let maxWaiting = 0;
    const probe = setInterval(() => {
      maxSeen = Math.max(maxSeen, agg.stats.staged);
      maxWaiting = Math.max(maxWaiting, agg.stats.waiting);
    }, 0);
    const updates = Array.from({ length: 8 }, (_, s) => ({ site: `s${s}`, params: { w: new Float32Array(1 << 16).fill(s) }, weight: 1 }));
    await Promise.all(updates.map((u) => agg.submit(u)));
    clearInterval(probe);
    assert.equal(agg.stats.peakStaged, maxStaged, `K=${maxStaged}`);
    assert.ok(maxSeen <= maxStaged);
    assert.ok(maxWaiting > 0, "later submits had to wait");
    assert.deepEqual(agg.stats, { staged: 0, peakStaged: maxStaged, waiting: 0 });
    const mean = agg.result().params["w"]!;
    assert.equal(mean[0], 3.5);
    assert.equal(mean[(1 << 16) - 1], 3.5);
  }
});

test("reserve() holds a place before the update exists; release() gives it back", async () => {
  const agg = new WeightedAggregator(shapes, { maxStaged: 1 });
  const slot = await agg.reserve();
  let second = false;
  const waiting = agg.reserve().then((s) => {
    second = true;
    return s;
  });
  await new Promise((r) => setImmediate(r));
  assert.equal(second, false, "K=1: the second reservation waits");
  await agg.submit({ site: "a", params: randomParams(1), weight: 1 }, slot);
  const next = await waiting;
  assert.equal(second, true);
  next.release();
  next.release(); // idempotent
  assert.equal(agg.stats.staged, 0);
});

test("property: the result is the weighted mean of any accepted updates", async () => {
  const update = fc.record({
    weight: fc.double({ min: 1e-3, max: 1e6, noNaN: true }),
    values: fc.array(fc.float({ min: -1e4, max: 1e4, noNaN: true, noDefaultInfinity: true }), { minLength: 15, maxLength: 15 }),
  });
  await fc.assert(
    fc.asyncProperty(fc.array(update, { minLength: 1, maxLength: 12 }), fc.integer({ min: 1, max: 4 }), async (raw, maxStaged) => {
      const updates: ModelUpdate[] = raw.map((u, s) => ({
        site: `site-${s}`,
        weight: u.weight,
        params: { "dense1.weight": Float32Array.from(u.values.slice(0, 12)), "dense1.bias": Float32Array.from(u.values.slice(12)) },
      }));
      const agg = new WeightedAggregator(shapes, { maxStaged, accumulator: "float64" });
      await Promise.all(updates.map((u) => agg.submit(u)));
      const result = agg.result();
      assert.ok(agg.stats.peakStaged <= maxStaged);
      // Tolerance relative to the largest |value| (the mean of mixed signs can be near 0).
      const expected = reference(updates);
      for (const [name, values] of Object.entries(expected)) {
        values.forEach((v, i) => {
          const scale = Math.max(1, ...updates.map((u) => Math.abs(u.params[name]![i]!)));
          assert.ok(Math.abs(result.params[name]![i]! - v) <= 1e-6 * scale, `${name}[${i}]`);
        });
      }
    }),
    { numRuns: 200 },
  );
});

test("bad construction arguments are refused", () => {
  assert.throws(() => new WeightedAggregator({}), /at least one parameter/);
  assert.throws(() => new WeightedAggregator(shapes, { maxStaged: 0 }), /maxStaged/);
  assert.throws(() => new WeightedAggregator(shapes, { normBound: -1 }), /normBound/);
  assert.throws(() => new WeightedAggregator(shapes, { global: { "dense1.weight": new Float32Array(12) } }), /global parameter dense1.bias/);
});
