import { test } from "node:test";
import assert from "node:assert/strict";
import { FLModel } from "../../src/wire/index.js";
import {
  ExcludeVars,
  GaussianPrivacy,
  PercentilePrivacy,
  SVTPrivacy,
  gaussianArgs,
  gaussianSigma,
  percentileArgs,
  svtArgs,
  svtBudget,
  BUILTIN_FILTERS,
  SecureRandom,
  type FilterContext,
  type PrivacySpend,
} from "../../src/privacy/index.js";

function ctx(over: Partial<FilterContext> = {}): FilterContext & { spends: PrivacySpend[] } {
  const spends: PrivacySpend[] = [];
  return { site: "site-1", jobId: "j", taskName: "train", direction: "out", charge: async (s) => void spends.push(s), log: () => undefined, spends, ...over };
}
const model = (params: Record<string, Float32Array>, paramsType: "FULL" | "DIFF" = "DIFF", steps = 1): FLModel =>
  new FLModel({ params, paramsType, meta: { NUM_STEPS_CURRENT_ROUND: steps } });

test("ExcludeVars removes listed names, or names matching a regex", () => {
  const m = model({ "fc1.weight": new Float32Array([1]), "fc1.bias": new Float32Array([2]), "fc2.weight": new Float32Array([3]) });
  assert.deepEqual(Object.keys(new ExcludeVars({ exclude_vars: ["fc1.bias"] }).filter(m, ctx()).params).sort(), ["fc1.weight", "fc2.weight"]);
  assert.deepEqual(Object.keys(new ExcludeVars({ exclude_vars: "^fc1\\." }).filter(m, ctx()).params), ["fc2.weight"]);
  const create = BUILTIN_FILTERS.find((f) => f.name === "ExcludeVars")!.create;
  assert.throws(() => create({ exclude_vars: 3 }), /ExcludeVars args\.exclude_vars/);
  assert.throws(() => create({ exclude_vars: "(" }), /not a valid regular expression/);
});

test("PercentilePrivacy zeroes exactly the entries under the cutoff and clips the rest to gamma", () => {
  const values = Float32Array.from({ length: 100 }, (_, i) => (i % 2 ? -1 : 1) * (i + 1) * 0.001);
  const f = new PercentilePrivacy(percentileArgs.parse({ percentile: 30, gamma: 0.05 }));
  const out = f.filter(model({ w: values }), ctx()).params["w"] as Float32Array;
  const abs = [...values].map((v) => Math.abs(v)).sort((a, b) => a - b);
  const pos = 0.3 * 99;
  const cutoff = abs[Math.floor(pos)]! + (pos - Math.floor(pos)) * (abs[Math.floor(pos) + 1]! - abs[Math.floor(pos)]!);
  for (let i = 0; i < values.length; i++) {
    const v = values[i]!;
    if (Math.abs(v) < cutoff) assert.equal(out[i], 0, `entry ${i} under the cutoff`);
    else assert.ok(Math.abs(out[i]! - Math.max(-0.05, Math.min(0.05, v))) < 1e-6, `entry ${i} clipped`);
  }
  assert.equal([...out].filter((x) => x === 0).length, 30);
  // FULL weights: the filter works on the update against the task data and adds it back.
  const ref = new FLModel({ params: { w: new Float32Array(100).fill(1) }, paramsType: "FULL", meta: {} });
  const full = model({ w: values.map((v) => v + 1) }, "FULL");
  const outFull = f.filter(full, ctx({ reference: ref })).params["w"] as Float32Array;
  for (let i = 0; i < 100; i++) assert.ok(Math.abs(outFull[i]! - 1 - out[i]!) < 1e-6);
});

test("PercentilePrivacy scales by NUM_STEPS_CURRENT_ROUND before clipping", () => {
  const f = new PercentilePrivacy(percentileArgs.parse({ percentile: 0, gamma: 0.01 }));
  const out = f.filter(model({ w: new Float32Array([0.5, -0.5]) }, "DIFF", 10), ctx()).params["w"] as Float32Array;
  assert.deepEqual(
    [...out].map((x) => Number(x.toFixed(6))),
    [0.1, -0.1],
  );
});

test("SVTPrivacy releases about `fraction` of the entries, bounded by gamma, and charges its epsilon", async () => {
  const n = 2000;
  const w = Float32Array.from({ length: n }, (_, i) => Math.sin(i) * 0.01);
  const a = svtArgs.parse({ fraction: 0.1, epsilon: 0.2, noise_var: 0.1, gamma: 0.01, tau: 0.001, replace: false });
  const c = ctx();
  const out = (await new SVTPrivacy(a).filter(model({ w }), c)).params["w"] as Float32Array;
  const nz = [...out].filter((x) => x !== 0).length;
  assert.ok(nz <= 200 && nz >= 195, `released ${nz}`);
  assert.ok([...out].every((x) => Math.abs(x) <= 0.01 + 1e-9));
  const b = svtBudget(a, n);
  assert.equal(b.c, 200);
  assert.ok(Math.abs(b.threshold + b.query - 0.2) < 1e-12, "threshold + query = epsilon");
  assert.ok(Math.abs(b.release - 200 * 0.1) < 1e-9);
  assert.equal(c.spends.length, 1);
  assert.ok(Math.abs(c.spends[0]!.epsilon - b.total) < 1e-12);
  assert.equal(c.spends[0]!.delta, 0);
  const withReplace = (await new SVTPrivacy({ ...a, replace: true }).filter(model({ w }), ctx())).params["w"] as Float32Array;
  const nz2 = [...withReplace].filter((x) => x !== 0).length;
  assert.ok(nz2 <= 200 && nz2 >= 100, `released ${nz2} with replacement`);
});

test("GaussianPrivacy clips the update to clip_norm and adds noise with σ = C·sqrt(2 ln(1.25/δ))/ε", async () => {
  const a = gaussianArgs.parse({ clip_norm: 0.5, epsilon: 0.8, delta: 1e-5 });
  const sigma = gaussianSigma(0.5, 0.8, 1e-5);
  assert.ok(Math.abs(sigma - (0.5 * Math.sqrt(2 * Math.log(1.25e5))) / 0.8) < 1e-12);
  // Clipping (noise-free view): a zero-σ generator.
  const zero = new (class extends SecureRandom {
    override gaussian(): number {
      return 0;
    }
  })();
  const w = Float32Array.from({ length: 1000 }, () => 0.3);
  const clipped = (await new GaussianPrivacy(a, zero).filter(model({ w }), ctx())).params["w"] as Float32Array;
  const norm = Math.sqrt([...clipped].reduce((s, x) => s + x * x, 0));
  assert.ok(Math.abs(norm - 0.5) < 1e-4, `norm ${norm}`);
  // Noise: 200k draws on a zero update; the sample variance is within 1% of σ² (its sd is ≈ σ²·sqrt(2/n) ≈ 0.3%).
  const n = 200_000;
  const c = ctx();
  const noisy = (await new GaussianPrivacy(a).filter(model({ w: new Float32Array(n) }), c)).params["w"] as Float32Array;
  let s = 0;
  let s2 = 0;
  for (const x of noisy) {
    s += x;
    s2 += x * x;
  }
  const mean = s / n;
  const variance = s2 / n - mean * mean;
  assert.ok(Math.abs(mean) < (5 * sigma) / Math.sqrt(n), `mean ${mean}`);
  assert.ok(Math.abs(variance / (sigma * sigma) - 1) < 0.01, `variance ${variance} vs σ² ${sigma * sigma}`);
  assert.deepEqual(c.spends, [{ filter: "GaussianPrivacy", epsilon: 0.8, delta: 1e-5 }]);
  assert.throws(
    () => BUILTIN_FILTERS.find((f) => f.name === "GaussianPrivacy")!.create({ epsilon: 2, delta: 1e-5 }),
    /args\.epsilon: .*0 < epsilon < 1.*\(got 2\)/,
  );
});

test("GaussianPrivacy on FULL weights noises the update, not the weights, and a refused charge releases nothing", async () => {
  const a = gaussianArgs.parse({ clip_norm: 1, epsilon: 0.5, delta: 1e-5 });
  const ref = new FLModel({ params: { w: new Float32Array(1000).fill(100) }, paramsType: "FULL", meta: {} });
  const out = (await new GaussianPrivacy(a).filter(model({ w: new Float32Array(1000).fill(100.01) }, "FULL"), ctx({ reference: ref }))).params[
    "w"
  ] as Float32Array;
  // Clipping the weights themselves (norm ≈ 3162) to 1 would leave a mean near 0; the update's mean stays ≈ 100 (σ ≈ 9.7, 1000 draws).
  const mean = [...out].reduce((s, x) => s + x, 0) / out.length;
  assert.ok(Math.abs(mean - 100) < 2, `mean ${mean}`);
  await assert.rejects(
    new GaussianPrivacy(a).filter(model({ w: new Float32Array(3) }), ctx({ charge: () => Promise.reject(new Error("budget exhausted")) })),
    /budget exhausted/,
  );
});

test("DP filters draw their noise from node:crypto, never Math.random", async () => {
  const original = Math.random;
  let calls = 0;
  Math.random = () => {
    calls++;
    return original();
  };
  try {
    const w = Float32Array.from({ length: 1000 }, (_, i) => Math.sin(i) / 10);
    await new GaussianPrivacy(gaussianArgs.parse({ clip_norm: 1, epsilon: 0.5, delta: 1e-5 })).filter(model({ w }), ctx());
    await new SVTPrivacy(svtArgs.parse({ fraction: 0.1, epsilon: 0.5, noise_var: 0.1, gamma: 1e-5 })).filter(model({ w }), ctx());
  } finally {
    Math.random = original;
  }
  assert.equal(calls, 0, "Math.random was called");
});
