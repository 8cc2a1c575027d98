import { test } from "node:test";
import assert from "node:assert/strict";
import {
  BUNDLED_FASHION_MNIST_DIR,
  SUGGESTED_TRAINING,
  createRng,
  evaluate,
  initParams,
  loadIdxDataset,
  paramShapes,
  partitionNonIid,
  trainLocal,
  type ModelSpec,
  type Params,
} from "../../../src/runtime/learn/index.js";

const softmax: ModelSpec = { kind: "softmax" };
const mlp: ModelSpec = { kind: "mlp", hidden: 16 };

function all(n: number): Uint32Array {
  return new Uint32Array(n).map((_, i) => i);
}

test("paramShapes / initParams: stable names and sizes", () => {
  assert.deepEqual(paramShapes(mlp, 784, 10), { "dense1.weight": [16, 784], "dense1.bias": [16], "dense2.weight": [10, 16], "dense2.bias": [10] });
  assert.deepEqual(paramShapes(softmax, 4, 3), { "dense1.weight": [3, 4], "dense1.bias": [3] });
  const p = initParams(mlp, 784, 10, 1);
  assert.deepEqual(Object.keys(p), ["dense1.weight", "dense1.bias", "dense2.weight", "dense2.bias"]);
  assert.equal(p["dense1.weight"]?.length, 16 * 784);
  assert.deepEqual(p, initParams(mlp, 784, 10, 1), "deterministic per seed");
});

/** A tiny random problem: 5 features, 3 classes, some zero inputs (the sparse path). */
function tinyData(n: number, seed: number): { images: Float32Array; labels: Uint8Array; features: number; classes: number } {
  const rng = createRng(seed);
  const images = Float32Array.from({ length: n * 5 }, () => (rng() < 0.3 ? 0 : rng() * 2 - 1));
  const labels = Uint8Array.from({ length: n }, () => Math.floor(rng() * 3));
  return { images, labels, features: 5, classes: 3 };
}

for (const spec of [softmax, { kind: "mlp", hidden: 4 } as ModelSpec]) {
  test(`gradient check against finite differences (${spec.kind})`, () => {
    // One full-batch SGD step with learning rate lr gives params − lr · ∇L; compare with central differences.
    const data = { ...tinyData(6, 3), indices: all(6) };
    const params = initParams(spec, 5, 3, 9);
    const lr = 1e-3;
    const stepped = trainLocal(spec, params, data, { epochs: 1, batchSize: 6, learningRate: lr, seed: 1 }).params;
    const loss = (p: Params): number => evaluate(spec, p, data).loss;
    let checked = 0;
    for (const [name, values] of Object.entries(params)) {
      for (let i = 0; i < values.length; i += 3) {
        const h = 1e-2;
        const plus = { ...params, [name]: Float32Array.from(values) };
        const minus = { ...params, [name]: Float32Array.from(values) };
        plus[name]![i] = values[i]! + h;
        minus[name]![i] = values[i]! - h;
        const numeric = (loss(plus) - loss(minus)) / (2 * h);
        const analytic = (values[i]! - stepped[name]![i]!) / lr;
        assert.ok(Math.abs(numeric - analytic) < 2e-3 + 0.02 * Math.abs(numeric), `${name}[${i}]: numeric ${numeric} vs analytic ${analytic}`);
        checked++;
      }
    }
    assert.ok(checked > 5);
    assert.notEqual(params["dense1.weight"], stepped["dense1.weight"], "input params are not mutated");
  });
}

test("training reduces the loss and does not mutate its input", () => {
  const data = { ...tinyData(300, 5), indices: all(300) };
  const params = initParams(mlp, 5, 3, 2);
  const copy = Float32Array.from(params["dense1.weight"]!);
  const before = evaluate(mlp, params, data).loss;
  const result = trainLocal(mlp, params, data, { epochs: 20, batchSize: 16, learningRate: 0.1, seed: 3, momentum: 0.5 });
  assert.ok(evaluate(mlp, result.params, data).loss < before * 0.95);
  assert.ok(result.epochLoss[19]! < result.epochLoss[0]!);
  assert.equal(result.numSamples, 300);
  assert.deepEqual(params["dense1.weight"], copy);
});

test("bad params and data are refused", () => {
  const data = { ...tinyData(4, 1), indices: all(4) };
  const opts = { epochs: 1, batchSize: 2, learningRate: 0.1, seed: 1 };
  const p = initParams(softmax, 5, 3, 1);
  assert.throws(() => trainLocal(softmax, { ...p, extra: new Float32Array(1) }, data, opts), /unexpected parameter extra/);
  assert.throws(() => trainLocal(softmax, { ...p, "dense1.bias": new Float32Array(2) }, data, opts), /dense1.bias must be a Float32Array of 3/);
  assert.throws(() => trainLocal(softmax, p, { ...data, indices: Uint32Array.of(9) }, opts), /out of range/);
  assert.throws(() => trainLocal(softmax, p, data, { ...opts, learningRate: -1 }), /learningRate/);
});

const train = loadIdxDataset(BUNDLED_FASHION_MNIST_DIR, "train");
const testSet = loadIdxDataset(BUNDLED_FASHION_MNIST_DIR, "test");

test("softmax on the bundled subset beats 0.70 test accuracy in 2 epochs", () => {
  // Training speed is a figure of `npm run bench -- learn`, not an assertion here.
  const result = trainLocal(
    softmax,
    initParams(softmax, 784, 10, 1),
    { ...train, indices: all(train.count) },
    { epochs: 2, seed: 1, ...SUGGESTED_TRAINING.softmax },
  );
  const { accuracy } = evaluate(softmax, result.params, testSet);
  assert.ok(accuracy > 0.7, `accuracy ${accuracy}`);
});

test("a site trained on one non-IID partition scores clearly worse than a model trained on all", () => {
  const options = { epochs: 2, seed: 1, ...SUGGESTED_TRAINING.softmax };
  const init = initParams(softmax, 784, 10, 1);
  const everything = evaluate(softmax, trainLocal(softmax, init, { ...train, indices: all(train.count) }, options).params, testSet).accuracy;
  const [site] = partitionNonIid(train.labels, 3, { seed: 1 });
  const alone = evaluate(softmax, trainLocal(softmax, init, { ...train, indices: site! }, options).params, testSet).accuracy;
  assert.ok(alone < everything - 0.1, `one site ${alone} vs all ${everything}`);
});
