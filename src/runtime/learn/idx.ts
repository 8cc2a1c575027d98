/**
 * Loader for datasets in LeCun's IDX format (MNIST, Fashion-MNIST), plain or gzip-compressed.
 *
 * Everything read from disk is untrusted: magic numbers, dimensions, lengths and label range are
 * checked, and memory stays bounded by the *declared* size, which is itself capped before anything
 * is allocated. A gzip file is inflated in two steps: a small prefix first (only enough to read the
 * header), then the whole stream with `maxOutputLength` = header + declared payload, so a gzip bomb
 * or a file longer than it claims is refused without inflating more than it declared.
 */
import { closeSync, openSync, readFileSync, readSync, statSync } from "node:fs";
import { join, resolve } from "node:path";
import { constants as zlibConstants, gunzipSync } from "node:zlib";
import { LearnError } from "./errors.js";
import { FASHION_MNIST_FILES as FILE_NAMES, visible } from "../datasets/index.js";

/** An image-classification dataset held in memory as typed arrays (row-major, one row per sample). */
export type Dataset = {
  /** count × features pixels scaled to [0, 1]. */
  images: Float32Array;
  labels: Uint8Array;
  count: number;
  /** Values per sample (rows × cols of the IDX images; 784 for Fashion-MNIST). */
  features: number;
  /** Number of classes; every label is < classes. */
  classes: number;
  /** The folder it was read from. */
  source: string;
};

export type IdxLoadOptions = {
  /** Labels must be below this (default 10). */
  classes?: number;
  /** Refuse files declaring more payload bytes than this (default 256 MiB; Fashion-MNIST train is 47 MB). */
  maxBytes?: number;
};

type IdxArray = { dims: number[]; data: Uint8Array; file: string };

const MAGIC_UBYTE = 0x08;
const DEFAULT_MAX_BYTES = 256 * 1024 * 1024;
/** Caps each declared dimension so their product cannot overflow a double's exact integers. */
const MAX_DIM = 1 << 24;

function bad(file: string, problem: string, fix: string, extra: Record<string, unknown> = {}): LearnError {
  return new LearnError("ERR_DATA_BAD_IDX", `${file}: ${problem}; ${fix}`, { file, problem, fix, ...extra });
}

const REPLACE_FIX = "replace it with an intact copy of the dataset file";

/** Parses and checks the IDX header: 0x00 0x00 <type> <ndims>, then ndims big-endian u32 sizes. */
function parseHeader(head: Uint8Array, file: string, expectedDims: number, maxBytes: number): { dims: number[]; headerBytes: number; payloadBytes: number } {
  if (head.length < 4) throw bad(file, `file is ${head.length} bytes, shorter than the 4-byte IDX magic number`, REPLACE_FIX);
  if (head[0] !== 0 || head[1] !== 0 || head[2] !== MAGIC_UBYTE || head[3] !== expectedDims) {
    const magic = Buffer.from(head.subarray(0, 4)).toString("hex");
    throw bad(
      file,
      `bad magic number 0x${magic} (expected 0x000008${expectedDims.toString(16).padStart(2, "0")}: unsigned bytes, ${expectedDims} dimension(s))`,
      "check that this is the right IDX file and not a different format or a mislabelled file",
      { magic },
    );
  }
  const headerBytes = 4 + 4 * expectedDims;
  if (head.length < headerBytes) throw bad(file, `truncated header (${head.length} of ${headerBytes} bytes)`, REPLACE_FIX);
  const view = new DataView(head.buffer, head.byteOffset, headerBytes);
  const dims: number[] = [];
  let payloadBytes = 1;
  for (let d = 0; d < expectedDims; d++) {
    const size = view.getUint32(4 + 4 * d, false);
    if (size === 0 || size > MAX_DIM) throw bad(file, `dimension ${d} declares ${size} entries (allowed 1..${MAX_DIM})`, REPLACE_FIX, { dims });
    dims.push(size);
    payloadBytes *= size;
  }
  if (payloadBytes > maxBytes) {
    throw bad(
      file,
      `declares ${payloadBytes} bytes of data (dims ${dims.join("×")}), over the ${maxBytes}-byte limit`,
      "use a smaller file, or raise maxBytes if the dataset really is this large",
      { dims, payloadBytes, maxBytes },
    );
  }
  return { dims, headerBytes, payloadBytes };
}

/** Reads one IDX file (plain, or gzip when the name ends in .gz) with `expectedDims` dimensions. */
export function readIdxFile(file: string, expectedDims: number, options: { maxBytes?: number } = {}): IdxArray {
  const maxBytes = options.maxBytes ?? DEFAULT_MAX_BYTES;
  return file.endsWith(".gz") ? readGzip(file, expectedDims, maxBytes) : readPlain(file, expectedDims, maxBytes);
}

function readPlain(file: string, expectedDims: number, maxBytes: number): IdxArray {
  const fd = openSync(file, "r");
  try {
    const size = statSync(file).size;
    const head = Buffer.alloc(Math.min(size, 4 + 4 * expectedDims));
    readSync(fd, head, 0, head.length, 0);
    const { dims, headerBytes, payloadBytes } = parseHeader(head, file, expectedDims, maxBytes);
    const expected = headerBytes + payloadBytes;
    if (size < expected) throw bad(file, `truncated: ${size} bytes, but its header declares ${expected}`, REPLACE_FIX, { size, expected });
    if (size > expected)
      throw bad(file, `${size - expected} unexpected trailing bytes after the ${expected} its header declares`, REPLACE_FIX, { size, expected });
    const data = new Uint8Array(payloadBytes);
    let done = 0;
    while (done < payloadBytes) {
      const n = readSync(fd, data, done, payloadBytes - done, headerBytes + done);
      if (n === 0) throw bad(file, "file shrank while being read", REPLACE_FIX);
      done += n;
    }
    return { dims, data, file };
  } finally {
    closeSync(fd);
  }
}

function readGzip(file: string, expectedDims: number, maxBytes: number): IdxArray {
  const compressed = readFileSync(file);
  const headerBytes = 4 + 4 * expectedDims;
  // Step 1: inflate growing prefixes with a sync flush (truncated input allowed) until the header
  // is out. Deflate expands at most ~1032:1, so this never inflates more than ~1 MiB.
  let head: Buffer = Buffer.alloc(0);
  for (let prefix = 64; ; prefix *= 4) {
    const slice = compressed.subarray(0, Math.min(prefix, compressed.length));
    try {
      head = gunzipSync(slice, { finishFlush: zlibConstants.Z_SYNC_FLUSH });
    } catch (err) {
      throw bad(
        file,
        `not a valid gzip stream (${(err as Error).message})`,
        "replace it with an intact copy, or decompress it and drop the .gz suffix if it is not compressed",
      );
    }
    if (head.length >= headerBytes || slice.length === compressed.length) break;
  }
  const { dims, payloadBytes } = parseHeader(head, file, expectedDims, maxBytes);
  const expected = headerBytes + payloadBytes;
  // Step 2: the whole stream, never inflating more than the header declared (+1 to tell "longer").
  let whole: Buffer;
  try {
    whole = gunzipSync(compressed, { maxOutputLength: expected + 1 });
  } catch (err) {
    const code = (err as { code?: unknown }).code;
    if (code === "ERR_BUFFER_TOO_LARGE" || err instanceof RangeError) {
      throw bad(file, `inflates to more than the ${expected} bytes its header declares`, REPLACE_FIX, { expected });
    }
    throw bad(file, `corrupt or truncated gzip stream (${(err as Error).message})`, REPLACE_FIX, { expected });
  }
  if (whole.length < expected)
    throw bad(file, `truncated: inflates to ${whole.length} bytes, but its header declares ${expected}`, REPLACE_FIX, { size: whole.length, expected });
  if (whole.length > expected) throw bad(file, `inflates to more than the ${expected} bytes its header declares`, REPLACE_FIX, { expected });
  return { dims, data: whole.subarray(headerBytes), file };
}

/** The file for `base` in `dir`: the plain name, else `<name>.gz`. */
function locate(dir: string, base: string): string {
  const plain = join(dir, base);
  if (visible(plain)) return plain;
  const gz = `${plain}.gz`;
  if (visible(gz)) return gz;
  throw new LearnError(
    "ERR_DATA_NOT_FOUND",
    `${dir}: neither ${base} nor ${base}.gz exists (or, in a job process, the site does not let jobs read it: list the folder in job_data_paths in the site's local/resources.json); point the loader at a folder holding the IDX files (e.g. /usr/share/datasets/fashion-mnist from Debian's dataset-fashion-mnist)`,
    { dir, file: base },
  );
}

/**
 * Loads the `train` or `test` split from a folder of IDX files (`train-images-idx3-ubyte[.gz]`,
 * `train-labels-idx1-ubyte[.gz]`, `t10k-…`). Pixels are scaled to [0, 1].
 */
export function loadIdxDataset(dir: string, split: "train" | "test", options: IdxLoadOptions = {}): Dataset {
  const classes = options.classes ?? 10;
  if (!Number.isInteger(classes) || classes < 1 || classes > 256) {
    throw new LearnError("ERR_DATA_BAD_ARGUMENT", `classes must be an integer in 1..256, got ${classes}`, { classes });
  }
  const names = FILE_NAMES[split];
  const images = readIdxFile(locate(dir, names.images), 3, options);
  const labels = readIdxFile(locate(dir, names.labels), 1, options);
  const [count = 0, rows = 0, cols = 0] = images.dims;
  if (labels.dims[0] !== count) {
    throw bad(labels.file, `holds ${labels.dims[0]} labels but ${images.file} holds ${count} images`, "use the label file that belongs to these images", {
      labels: labels.dims[0],
      images: count,
    });
  }
  const raw = labels.data;
  for (let i = 0; i < count; i++) {
    const label = raw[i] ?? 0;
    if (label >= classes)
      throw bad(labels.file, `label ${label} at index ${i} is outside 0..${classes - 1}`, `use the right label file, or pass classes > ${label}`, {
        index: i,
        label,
        classes,
      });
  }
  const features = rows * cols;
  const pixels = images.data;
  const scaled = new Float32Array(pixels.length);
  const inv = 1 / 255;
  for (let i = 0; i < pixels.length; i++) scaled[i] = (pixels[i] as number) * inv;
  return { images: scaled, labels: Uint8Array.from(raw), count, features, classes, source: resolve(dir) };
}
