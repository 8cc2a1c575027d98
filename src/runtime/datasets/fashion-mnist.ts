/**
 * Where the sites' datasets are: Fashion-MNIST (the demo's and the examples' data) from
 * $COHORT_FASHION_MNIST_DIR, Debian's dataset-fashion-mnist package, or the subset bundled in the
 * repository. Locations only: reading the files is the demo's ML (learn/idx.ts).
 */
import { existsSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { CohortError } from "../../errors/index.js";
import { DatasetErrorCode } from "./errors.js";

/** The IDX files of each split. */
export const FASHION_MNIST_FILES = {
  train: { images: "train-images-idx3-ubyte", labels: "train-labels-idx1-ubyte" },
  test: { images: "t10k-images-idx3-ubyte", labels: "t10k-labels-idx1-ubyte" },
} as const;

/**
 * existsSync that says "no" for a path Node's permission model does not let this process see: in a
 * job child, Node 20 throws ERR_ACCESS_DENIED from existsSync for paths outside --allow-fs-read,
 * including the files of a granted folder that did not exist when the process started.
 */
export function visible(path: string): boolean {
  try {
    return existsSync(path);
  } catch (err) {
    if ((err as { code?: unknown }).code === "ERR_ACCESS_DENIED") return false;
    throw err;
  }
}

/** Where Debian's `dataset-fashion-mnist` package installs the IDX files. */
export const DEBIAN_FASHION_MNIST_DIR = "/usr/share/datasets/fashion-mnist";

/** The subset shipped in the repository (same relative place from src/ and from dist/). */
export const BUNDLED_FASHION_MNIST_DIR = resolve(dirname(fileURLToPath(import.meta.url)), "../../../examples/data/fashion-mnist-subset");

function hasIdxFiles(dir: string): boolean {
  return Object.values(FASHION_MNIST_FILES).every((names) =>
    Object.values(names).every((base) => visible(join(dir, base)) || visible(join(dir, `${base}.gz`))),
  );
}

/**
 * The Fashion-MNIST folder to use: `$COHORT_FASHION_MNIST_DIR` when set (it must hold the files),
 * else Debian's package when installed, else the subset bundled in the repository (`bundled: true`,
 * which callers should say out loud: accuracy on it is lower).
 */
export function findFashionMnist(env: NodeJS.ProcessEnv = process.env): { dir: string; bundled: boolean } {
  const override = env["COHORT_FASHION_MNIST_DIR"];
  if (override) {
    if (!hasIdxFiles(override)) {
      throw new CohortError(
        DatasetErrorCode.NotFound,
        `COHORT_FASHION_MNIST_DIR=${override} does not hold the four Fashion-MNIST IDX files (train-/t10k- images and labels, plain or .gz); fix the path or unset it`,
        { dir: override },
      );
    }
    return { dir: resolve(override), bundled: false };
  }
  if (hasIdxFiles(DEBIAN_FASHION_MNIST_DIR)) return { dir: DEBIAN_FASHION_MNIST_DIR, bundled: false };
  return { dir: BUNDLED_FASHION_MNIST_DIR, bundled: true };
}
