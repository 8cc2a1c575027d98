/**
 * NumPy's .npy format (version 1.0) for float32 arrays, so FLARE's NPModelPersistor files are what
 * numpy.load reads and writes: magic, header length, a Python dict literal naming dtype, order and
 * shape, padded to 64 bytes, then the little-endian data.
 */
import { CohortError } from "../../errors/index.js";
import { WorkflowErrorCode } from "./errors.js";

const MAGIC = Buffer.from([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59]); // \x93NUMPY

export function encodeNpy(data: Float32Array, shape: readonly number[]): Buffer {
  const dims = shape.length === 1 ? `${shape[0]},` : shape.join(", ");
  let header = `{'descr': '<f4', 'fortran_order': False, 'shape': (${dims}), }`;
  // Magic (6) + version (2) + length (2) + header + '\n' is a multiple of 64.
  const unpadded = 10 + header.length + 1;
  header += " ".repeat((64 - (unpadded % 64)) % 64);
  const head = Buffer.alloc(10);
  MAGIC.copy(head, 0);
  head[6] = 1;
  head[7] = 0;
  head.writeUInt16LE(header.length + 1, 8);
  const body = Buffer.alloc(data.length * 4);
  for (let i = 0; i < data.length; i++) body.writeFloatLE(data[i] as number, i * 4);
  return Buffer.concat([head, Buffer.from(`${header}\n`, "latin1"), body]);
}

/** Reads a float32 or float64 C-order array (as float32) from .npy bytes; `file` names it in errors. */
export function decodeNpy(bytes: Uint8Array, file: string): { data: Float32Array; shape: number[] } {
  const b = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const bad = (why: string): never => {
    throw new CohortError(WorkflowErrorCode.BadModel, `${file}: not a .npy file Cohort reads (${why}); save it with numpy.save as float32`, { file });
  };
  if (b.length < 10 || !b.subarray(0, 6).equals(MAGIC)) bad("no NUMPY magic");
  const major = b[6];
  const headerLength =
    major === 1 ? b.readUInt16LE(8) : major === 2 || major === 3 ? (b.length >= 12 ? b.readUInt32LE(8) : bad("truncated")) : bad(`version ${major}`);
  const start = major === 1 ? 10 : 12;
  if (headerLength > 65536 || start + headerLength > b.length) bad("header length");
  const header = b.subarray(start, start + headerLength).toString("latin1");
  const descr = /'descr':\s*'([<>|=]?[fi]\d)'/.exec(header)?.[1] ?? bad("no descr");
  if (/'fortran_order':\s*True/.test(header)) bad("fortran_order True");
  const shapeText = /'shape':\s*\(([^)]*)\)/.exec(header)?.[1] ?? bad("no shape");
  const shape = shapeText
    .split(",")
    .map((x) => x.trim())
    .filter((x) => x.length > 0)
    .map((x) => (/^\d{1,9}$/.test(x) ? Number(x) : bad(`shape ${shapeText}`)));
  const count = shape.reduce((a, d) => a * d, 1);
  const width = descr.endsWith("8") ? 8 : 4;
  if (!/^[<|=]?f[48]$/.test(descr)) bad(`dtype ${descr}`);
  const dataStart = start + headerLength;
  if (b.length - dataStart !== count * width) bad(`${count} elements need ${count * width} bytes, the file has ${b.length - dataStart}`);
  const data = new Float32Array(count);
  for (let i = 0; i < count; i++) data[i] = width === 4 ? b.readFloatLE(dataStart + i * 4) : b.readDoubleLE(dataStart + i * 8);
  return { data, shape };
}
