import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { existsSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { gzipSync } from "node:zlib";
import { REPO_ROOT, tempDir } from "../../helpers/index.js";
import { requireSystem } from "../../helpers/requirements.js";
import { isCohortError } from "../../../src/errors/index.js";
import { BUNDLED_FASHION_MNIST_DIR, DEBIAN_FASHION_MNIST_DIR, findFashionMnist, loadIdxDataset } from "../../../src/runtime/learn/index.js";

/** IDX bytes: 0x0000 0x08 <ndims>, big-endian dims, then the payload. */
function idx(dims: number[], payload: Uint8Array, magic = 0x08): Buffer {
  const header = Buffer.alloc(4 + 4 * dims.length);
  header[2] = magic;
  header[3] = dims.length;
  dims.forEach((d, i) => header.writeUInt32BE(d, 4 + 4 * i));
  return Buffer.concat([header, payload]);
}

type Files = { images: Buffer; labels: Buffer };

function sample(count = 5, rows = 2, cols = 3): { files: Files; pixels: Uint8Array; labels: Uint8Array } {
  const pixels = Uint8Array.from({ length: count * rows * cols }, (_, i) => (i * 37) % 256);
  const labels = Uint8Array.from({ length: count }, (_, i) => i % 10);
  return { files: { images: idx([count, rows, cols], pixels), labels: idx([count], labels) }, pixels, labels };
}

function writeSplit(dir: string, split: "train" | "t10k", files: Files, gz: boolean): void {
  const write = (name: string, bytes: Buffer): void => writeFileSync(join(dir, gz ? `${name}.gz` : name), gz ? gzipSync(bytes) : bytes);
  write(`${split}-images-idx3-ubyte`, files.images);
  write(`${split}-labels-idx1-ubyte`, files.labels);
}

function refusal(problem: RegExp): (err: unknown) => boolean {
  return (err) => {
    assert.ok(isCohortError(err, "ERR_DATA_BAD_IDX"), String(err));
    assert.match(err.message, problem);
    assert.equal(typeof err.details["file"], "string");
    assert.equal(typeof err.details["fix"], "string");
    return true;
  };
}

for (const gz of [false, true]) {
  test(`round trip of generated IDX files (${gz ? "gzip" : "plain"})`, () => {
    const dir = tempDir();
    const { files, pixels, labels } = sample();
    writeSplit(dir, "train", files, gz);
    const ds = loadIdxDataset(dir, "train");
    assert.equal(ds.count, 5);
    assert.equal(ds.features, 6);
    assert.equal(ds.classes, 10);
    assert.deepEqual([...ds.labels], [...labels]);
    assert.equal(ds.images.length, pixels.length);
    pixels.forEach((p, i) => assert.equal(ds.images[i], Math.fround(p / 255)));
  });

  const broken: Array<[string, (f: Files) => Files, RegExp]> = [
    ["bad magic", (f) => ({ ...f, images: idx([5, 2, 3], new Uint8Array(30), 0x0d) }), /bad magic number/],
    ["truncated images", (f) => ({ ...f, images: f.images.subarray(0, f.images.length - 1) }), /truncated/],
    ["trailing bytes", (f) => ({ ...f, images: Buffer.concat([f.images, Buffer.from([1])]) }), /trailing|more than/],
    ["truncated header", (f) => ({ ...f, labels: f.labels.subarray(0, 6) }), /truncated header/],
    ["count mismatch", (f) => ({ ...f, labels: idx([4], new Uint8Array(4)) }), /holds 4 labels but .* holds 5 images/],
    ["label out of range", (f) => ({ ...f, labels: idx([5], Uint8Array.from([0, 1, 2, 10, 3])) }), /label 10 at index 3/],
    ["oversized declared dims", (f) => ({ ...f, images: idx([60000, 30000, 30000], new Uint8Array(16)) }), /dimension|over the .* limit/],
    ["declared size over the limit", (f) => ({ ...f, images: idx([1 << 20, 28, 28], new Uint8Array(16)) }), /over the \d+-byte limit/],
  ];
  for (const [name, mutate, problem] of broken) {
    test(`refuses ${name} (${gz ? "gzip" : "plain"})`, () => {
      const dir = tempDir();
      writeSplit(dir, "train", mutate(sample().files), gz);
      assert.throws(() => loadIdxDataset(dir, "train", { maxBytes: 64 * 1024 * 1024 }), refusal(problem));
    });
  }
}

test("a gzip bomb is refused without inflating past its declared size", () => {
  const dir = tempDir();
  // Declares 1 image of 1×1 but inflates to 64 MiB.
  const bomb = Buffer.concat([idx([1, 1, 1], new Uint8Array(1)), Buffer.alloc(64 * 1024 * 1024)]);
  writeFileSync(join(dir, "t10k-images-idx3-ubyte.gz"), gzipSync(bomb));
  writeFileSync(join(dir, "t10k-labels-idx1-ubyte.gz"), gzipSync(idx([1], new Uint8Array(1))));
  const before = process.memoryUsage().arrayBuffers;
  assert.throws(() => loadIdxDataset(dir, "test"), refusal(/inflates to more than the 17 bytes/));
  assert.ok(process.memoryUsage().arrayBuffers - before < 16 * 1024 * 1024);
});

test("a corrupt gzip stream is refused", () => {
  const dir = tempDir();
  const { files } = sample();
  writeSplit(dir, "train", files, true);
  const gz = gzipSync(files.images);
  writeFileSync(join(dir, "train-images-idx3-ubyte.gz"), gz.subarray(0, gz.length - 12));
  assert.throws(() => loadIdxDataset(dir, "train"), refusal(/truncated|corrupt/));
});

test("missing files are named", () => {
  assert.throws(
    () => loadIdxDataset(tempDir(), "test"),
    (err) => isCohortError(err, "ERR_DATA_NOT_FOUND") && /t10k-images-idx3-ubyte/.test(err.message),
  );
});

test("the bundled subset loads: 6000 train / 1000 test, class-balanced", () => {
  const train = loadIdxDataset(BUNDLED_FASHION_MNIST_DIR, "train");
  const testSet = loadIdxDataset(BUNDLED_FASHION_MNIST_DIR, "test");
  assert.equal(train.count, 6000);
  assert.equal(testSet.count, 1000);
  assert.equal(train.features, 784);
  const perClass = new Array<number>(10).fill(0);
  for (const l of train.labels) perClass[l] = (perClass[l] ?? 0) + 1;
  assert.deepEqual(perClass, new Array<number>(10).fill(600));
  assert.ok(existsSync(join(BUNDLED_FASHION_MNIST_DIR, "README.md")));
});

const debian = existsSync(join(DEBIAN_FASHION_MNIST_DIR, "train-images-idx3-ubyte.gz"));
test("the Debian Fashion-MNIST files load: 60000×784 train, 10000 test", requireSystem("dataset"), () => {
  const train = loadIdxDataset(DEBIAN_FASHION_MNIST_DIR, "train");
  assert.equal(train.count, 60000);
  assert.equal(train.features, 784);
  assert.equal(train.images.length, 60000 * 784);
  assert.equal(loadIdxDataset(DEBIAN_FASHION_MNIST_DIR, "test").count, 10000);
});

test("findFashionMnist: env override, else Debian, else the bundled subset", () => {
  assert.deepEqual(findFashionMnist({ COHORT_FASHION_MNIST_DIR: BUNDLED_FASHION_MNIST_DIR }), { dir: BUNDLED_FASHION_MNIST_DIR, bundled: false });
  assert.throws(
    () => findFashionMnist({ COHORT_FASHION_MNIST_DIR: tempDir() }),
    (err) => isCohortError(err, "ERR_DATA_NOT_FOUND"),
  );
  assert.deepEqual(findFashionMnist({}), debian ? { dir: DEBIAN_FASHION_MNIST_DIR, bundled: false } : { dir: BUNDLED_FASHION_MNIST_DIR, bundled: true });
});

test("findFashionMnist in a job process that may not read Debian's folder: the bundled subset, not ERR_ACCESS_DENIED", () => {
  // As a job child runs: Node's permission model, reads granted to the code and the bundled subset
  // only. Node 20's existsSync throws there for Debian's folder, whether missing or merely not granted.
  const idxModule = pathToFileURL(join(REPO_ROOT, "dist", "runtime", "learn", "idx.js")).href;
  const datasetsModule = pathToFileURL(join(REPO_ROOT, "dist", "runtime", "datasets", "index.js")).href;
  const script = `const m = await import(${JSON.stringify(idxModule)}); const d = await import(${JSON.stringify(datasetsModule)}); const f = d.findFashionMnist({}); console.log(JSON.stringify({ ...f, test: m.loadIdxDataset(f.dir, "test").count }));`;
  const r = spawnSync(
    process.execPath,
    [
      "--experimental-permission",
      `--allow-fs-read=${join(REPO_ROOT, "dist")}`,
      `--allow-fs-read=${BUNDLED_FASHION_MNIST_DIR}`,
      "--no-warnings",
      "--input-type=module",
      "-e",
      script,
    ],
    { encoding: "utf8", timeout: 30_000 },
  );
  assert.equal(r.status, 0, r.stderr);
  assert.deepEqual(JSON.parse(r.stdout), { dir: BUNDLED_FASHION_MNIST_DIR, bundled: true, test: 1000 });
});
