// `npm run bench -- learn [--sites 10] [--mb 100] [--epochs 1] [--skip-training]`
// (a) FedAvg aggregation: validate + fold `sites` float32 updates of `mb` MB each into the
//     WeightedAggregator (K = 2), against a memcpy (TypedArray.prototype.set) of the same bytes
//     measured in the same run (goal >= 35 %), and the process's peak RSS relative to one update
//     (goal <= 4x). Updates "arrive" one at a time under a staging reservation, as the runtime does.
// (b) Local training throughput (samples/s) and test accuracy of softmax and MLP(64) on Fashion-MNIST.
// The aggregation runs first so that the peak RSS it reports is not the dataset's.
import { performance } from "node:perf_hooks";
import {
  SUGGESTED_TRAINING,
  evaluate,
  findFashionMnist,
  initParams,
  loadIdxDataset,
  trainLocal,
  type ModelSpec,
  type Params,
} from "../src/runtime/learn/index.js";
import { WeightedAggregator } from "../src/runtime/aggregation/index.js";

function option(args: string[], name: string, fallback: number): number {
  const i = args.indexOf(name);
  const value = i >= 0 ? Number(args[i + 1]) : fallback;
  if (!Number.isFinite(value) || value <= 0) throw new Error(`${name} needs a positive number`);
  return value;
}

const MB = 1e6;
const peakRss = (): number => process.resourceUsage().maxRSS * 1024; // maxRSS is in KiB

/** Two parameters, like a model's big weight matrix and a bias, `bytes` in all. */
function shapesFor(bytes: number): Record<string, number[]> {
  const floats = Math.floor(bytes / 4);
  const bias = Math.min(1_000_000, Math.floor(floats / 25));
  return { "big.weight": [floats - bias], "big.bias": [bias] };
}

/** A fresh update, as if decoded off the wire: every page written. */
function arrive(shapes: Record<string, number[]>, site: number): Params {
  const params: Params = {};
  for (const [name, [n = 0]] of Object.entries(shapes)) {
    const x = new Float32Array(n).fill(0.001 * (site + 1));
    for (let i = 0; i < n; i += 4096) x[i] = Math.sin(i + site); // not all equal
    params[name] = x;
  }
  return params;
}

function memcpyBest(bytes: number, runs: number): number {
  const src = new Float32Array(bytes / 4).fill(1.5);
  const dst = new Float32Array(bytes / 4);
  dst.set(src); // fault the pages in before timing
  let best = Infinity;
  for (let r = 0; r < runs; r++) {
    const t = performance.now();
    dst.set(src);
    best = Math.min(best, (performance.now() - t) / 1000);
  }
  return best;
}

type AggRun = { seconds: number; peakRss: number };

async function aggregate(shapes: Record<string, number[]>, sites: number, withBound: boolean): Promise<AggRun> {
  const global = withBound ? arrive(shapes, 1000) : undefined;
  const agg = new WeightedAggregator(shapes, global ? { maxStaged: 2, normBound: 1e12, global } : { maxStaged: 2 });
  let generating = 0;
  const submits: Promise<void>[] = [];
  const start = performance.now();
  for (let s = 0; s < sites; s++) {
    const slot = await agg.reserve(); // backpressure before the update exists
    const t = performance.now();
    const params = arrive(shapes, s);
    generating += performance.now() - t;
    submits.push(agg.submit({ site: `site-${s}`, params, weight: 1000 + s }, slot));
  }
  await Promise.all(submits);
  const result = agg.result();
  const seconds = (performance.now() - start - generating) / 1000;
  const first = result.params["big.bias"]?.[1];
  if (first === undefined || !Number.isFinite(first)) throw new Error("aggregation produced no finite mean");
  if (agg.stats.peakStaged > 2) throw new Error("staged more than K updates");
  return { seconds, peakRss: peakRss() };
}

async function trainingThroughput(epochs: number): Promise<void> {
  const { dir, bundled } = findFashionMnist();
  const train = loadIdxDataset(dir, "train");
  const test = loadIdxDataset(dir, "test");
  console.log(
    `\nlocal training on Fashion-MNIST from ${dir}${bundled ? " (bundled subset)" : ""}: ${train.count} train / ${test.count} test, ${epochs} epoch(s), 1 thread`,
  );
  const indices = new Uint32Array(train.count).map((_, i) => i);
  console.log(["model".padEnd(12), "settings".padEnd(28), "seconds".padStart(8), "samples/s".padStart(10), "test acc".padStart(9)].join("  "));
  for (const spec of [{ kind: "softmax" }, { kind: "mlp", hidden: 64 }] as ModelSpec[]) {
    const settings = SUGGESTED_TRAINING[spec.kind];
    const start = performance.now();
    const { params } = trainLocal(spec, initParams(spec, train.features, train.classes, 1), { ...train, indices }, { epochs, seed: 1, ...settings });
    const seconds = (performance.now() - start) / 1000;
    const { accuracy } = evaluate(spec, params, test);
    const name = spec.kind === "mlp" ? `mlp(${spec.hidden})` : spec.kind;
    const desc = `lr ${settings.learningRate} batch ${settings.batchSize} mom ${settings.momentum ?? 0}`;
    console.log(
      [
        name.padEnd(12),
        desc.padEnd(28),
        seconds.toFixed(2).padStart(8),
        ((train.count * epochs) / seconds).toFixed(0).padStart(10),
        accuracy.toFixed(4).padStart(9),
      ].join("  "),
    );
  }
}

export default async function bench(args: string[]): Promise<void> {
  const sites = option(args, "--sites", 10);
  const mb = option(args, "--mb", 100);
  const epochs = option(args, "--epochs", 1);
  const bytes = Math.floor((mb * MB) / 4) * 4;
  const shapes = shapesFor(bytes);
  const total = (sites * bytes) / MB;

  const baseline = process.memoryUsage().rss;
  const noBound = await aggregate(shapes, sites, false);
  const withBound = await aggregate(shapes, sites, true);
  const copy = memcpyBest(bytes, 5); // after the aggregation runs: its 2 buffers do not raise their peak
  const copyGBs = bytes / MB / 1000 / copy;

  console.log(`aggregation: ${sites} sites × ${mb} MB float32 updates, K = 2, float32 accumulator (GB = 10^9 bytes)`);
  console.log(["operation".padEnd(46), "GB/s".padStart(6), "vs memcpy".padStart(10), "peak RSS".padStart(9), "÷ update".padStart(9)].join("  "));
  console.log(
    ["TypedArray.prototype.set (memcpy, best of 5)".padEnd(46), copyGBs.toFixed(2).padStart(6), "100 %".padStart(10), "".padStart(9), "".padStart(9)].join(
      "  ",
    ),
  );
  const line = (name: string, run: AggRun): void => {
    const gbs = total / 1000 / run.seconds;
    console.log(
      [
        name.padEnd(46),
        gbs.toFixed(2).padStart(6),
        `${((gbs / copyGBs) * 100).toFixed(0)} %`.padStart(10),
        `${(run.peakRss / MB).toFixed(0)} MB`.padStart(9),
        `${(run.peakRss / bytes).toFixed(2)}×`.padStart(9),
      ].join("  "),
    );
  };
  line("submit: validate (finite) + fold", noBound);
  line("submit: validate (finite + update norm) + fold", withBound);
  console.log(
    `(peak RSS is the whole process's; it was ${(baseline / MB).toFixed(0)} MB = ${(baseline / bytes).toFixed(2)}× an update before aggregating. The second row also holds the global model for the update norm.)`,
  );

  if (!args.includes("--skip-training")) await trainingThroughput(epochs);
}
