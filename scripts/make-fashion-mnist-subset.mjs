#!/usr/bin/env node
// Regenerates examples/data/fashion-mnist-subset/ from a full Fashion-MNIST folder (default: Debian's
// dataset-fashion-mnist under /usr/share/datasets/fashion-mnist): the first N images of each class
// (original order kept), written as gzip IDX files. Deterministic: same input, same bytes.
// Usage: node scripts/make-fashion-mnist-subset.mjs [--from DIR] [--train-per-class 600] [--test-per-class 100]
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { gunzipSync, gzipSync } from "node:zlib";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const args = process.argv.slice(2);
const opt = (name, fallback) => {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : fallback;
};
const from = opt("--from", "/usr/share/datasets/fashion-mnist");
const out = join(root, "examples", "data", "fashion-mnist-subset");
const perClass = { train: Number(opt("--train-per-class", "600")), t10k: Number(opt("--test-per-class", "100")) };

function readIdx(name, ndims) {
  const bytes = gunzipSync(readFileSync(join(from, `${name}.gz`)));
  if (bytes[2] !== 0x08 || bytes[3] !== ndims) throw new Error(`${name}: unexpected magic`);
  const dims = [];
  for (let d = 0; d < ndims; d++) dims.push(bytes.readUInt32BE(4 + 4 * d));
  return { dims, data: bytes.subarray(4 + 4 * ndims) };
}

function writeIdx(name, dims, data) {
  const header = Buffer.alloc(4 + 4 * dims.length);
  header[2] = 0x08;
  header[3] = dims.length;
  dims.forEach((size, d) => header.writeUInt32BE(size, 4 + 4 * d));
  const gz = gzipSync(Buffer.concat([header, data]), { level: 9 });
  writeFileSync(join(out, `${name}.gz`), gz);
  return gz.length;
}

mkdirSync(out, { recursive: true });
for (const split of ["train", "t10k"]) {
  const images = readIdx(`${split}-images-idx3-ubyte`, 3);
  const labels = readIdx(`${split}-labels-idx1-ubyte`, 1);
  const [count, rows, cols] = images.dims;
  const size = rows * cols;
  const taken = new Array(10).fill(0);
  const picked = [];
  for (let i = 0; i < count; i++) {
    const label = labels.data[i];
    if (taken[label] < perClass[split]) {
      taken[label]++;
      picked.push(i);
    }
  }
  const pixels = Buffer.alloc(picked.length * size);
  const chosenLabels = Buffer.alloc(picked.length);
  picked.forEach((src, j) => {
    images.data.copy(pixels, j * size, src * size, (src + 1) * size);
    chosenLabels[j] = labels.data[src];
  });
  const a = writeIdx(`${split}-images-idx3-ubyte`, [picked.length, rows, cols], pixels);
  const b = writeIdx(`${split}-labels-idx1-ubyte`, [picked.length], chosenLabels);
  console.log(`${split}: ${picked.length} images (${taken.join("/")} per class), ${a + b} bytes compressed`);
}
