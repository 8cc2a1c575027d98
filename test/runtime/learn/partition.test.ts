import { test } from "node:test";
import assert from "node:assert/strict";
import { dominantClassesOf, partitionIid, partitionNonIid } from "../../../src/runtime/learn/index.js";

/** 1000 samples per class, classes interleaved. */
const labels = Uint8Array.from({ length: 10_000 }, (_, i) => i % 10);

function assertDisjoint(parts: Uint32Array[]): Set<number> {
  const seen = new Set<number>();
  for (const part of parts) {
    for (let k = 0; k < part.length; k++) {
      const i = part[k] as number;
      assert.ok(!seen.has(i), `index ${i} appears twice`);
      seen.add(i);
      if (k > 0) assert.ok(i > (part[k - 1] as number), "sorted ascending");
    }
  }
  return seen;
}

function dominantShare(part: Uint32Array, dominant: number[]): number {
  let mine = 0;
  for (const i of part) if (dominant.includes(labels[i] as number)) mine++;
  return mine / part.length;
}

for (const sites of [5, 10]) {
  test(`non-IID over ${sites} sites: disjoint, complete, dominant share = fraction`, () => {
    const parts = partitionNonIid(labels, sites, { seed: 7 });
    assert.equal(parts.length, sites);
    assert.equal(assertDisjoint(parts).size, labels.length, "every sample assigned");
    const dominant = dominantClassesOf(sites, 10, 2, 7);
    parts.forEach((part, s) => assert.ok(Math.abs(dominantShare(part, dominant[s] ?? []) - 0.8) < 0.01, `site ${s}`));
    // Together the dominant classes cover every class.
    assert.equal(new Set(dominant.flat()).size, 10);
  });
}

test("non-IID with fewer sites than needed to cover: dominant share still ≈ fraction, distinct dominant classes", () => {
  for (const [sites, fraction, d] of [
    [3, 0.8, 2],
    [4, 0.7, 2],
    [2, 0.9, 3],
    [6, 0.8, 2],
  ] as const) {
    const parts = partitionNonIid(labels, sites, { seed: 1, dominantFraction: fraction, dominantClasses: d });
    assertDisjoint(parts);
    const dominant = dominantClassesOf(sites, 10, d, 1);
    parts.forEach((part, s) => {
      const share = dominantShare(part, dominant[s] ?? []);
      assert.ok(Math.abs(share - fraction) < 0.02, `sites=${sites} site ${s}: share ${share}`);
      assert.ok(part.length > 0);
    });
    if (sites * d <= 10) assert.equal(new Set(dominant.flat()).size, sites * d, "no two sites share a dominant class");
  }
});

test("non-IID is deterministic per seed and differs across seeds", () => {
  const a = partitionNonIid(labels, 4, { seed: 42 });
  const b = partitionNonIid(labels, 4, { seed: 42 });
  const c = partitionNonIid(labels, 4, { seed: 43 });
  assert.deepEqual(a, b);
  assert.notDeepEqual(a, c);
});

test("IID: disjoint, complete, balanced sizes and class mix, deterministic", () => {
  const parts = partitionIid(labels, 3, { seed: 5 });
  assert.equal(assertDisjoint(parts).size, labels.length);
  for (const part of parts) {
    assert.ok(Math.abs(part.length - labels.length / 3) <= 1);
    const perClass = new Array<number>(10).fill(0);
    for (const i of part) perClass[labels[i] as number]! += 1;
    for (const n of perClass) assert.ok(Math.abs(n / part.length - 0.1) < 0.03);
  }
  assert.deepEqual(parts, partitionIid(labels, 3, { seed: 5 }));
});

test("bad arguments are refused", () => {
  assert.throws(() => partitionNonIid(labels, 0), /sites must be/);
  assert.throws(() => partitionNonIid(labels, 2, { dominantFraction: 1.5 }), /dominantFraction/);
  assert.throws(() => partitionIid(labels, 2.5), /sites must be/);
});
