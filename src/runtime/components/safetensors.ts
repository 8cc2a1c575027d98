/**
 * safetensors files (the format PyTorch users exchange weights in, without pickle): an 8-byte
 * little-endian header length, a JSON header `{name: {dtype, shape, data_offsets}}` (plus an
 * optional `__metadata__` of strings) and the tensors' bytes. Cohort's server never runs Python and
 * never unpickles `.pt` files, so PyTorch models reach it in this format. The parser is strict: the
 * file comes with a job, so every length, offset and shape is checked before a byte is read, and
 * the tensors must tile the data exactly (no gaps, no overlaps), as the safetensors library demands.
 */
import { CohortError } from "../../errors/index.js";
import { Tensor, type WireRecord } from "../../wire/index.js";
import { WorkflowErrorCode } from "./errors.js";

/** Header bytes accepted: a model's header is a few hundred bytes per tensor. */
export const MAX_SAFETENSORS_HEADER = 16 * 1024 * 1024;
/** Tensors in one file. */
export const MAX_SAFETENSORS_TENSORS = 100_000;
const MAX_DIMS = 16;
const MAX_NAME = 1024;

/** Floating dtypes read as float32 (Cohort's models are float32); others are refused. */
const FLOAT_SIZES: Readonly<Record<string, number>> = { F32: 4, F64: 8, F16: 2, BF16: 2 };

export type SafetensorsParams = Record<string, Float32Array | Tensor<Float32Array>>;

const bad = (file: string, what: string, details: Record<string, unknown> = {}): CohortError =>
  new CohortError(WorkflowErrorCode.BadModel, `${file}: not a safetensors file Cohort can read: ${what}`, { file, ...details });

const isRecord = (v: unknown): v is Record<string, unknown> => typeof v === "object" && v !== null && !Array.isArray(v);
const isCount = (v: unknown): v is number => typeof v === "number" && Number.isSafeInteger(v) && v >= 0;

/** IEEE half precision to float. */
function halfToFloat(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const exp = (h >> 10) & 0x1f;
  const frac = h & 0x3ff;
  if (exp === 0) return sign * frac * 2 ** -24;
  if (exp === 0x1f) return frac ? Number.NaN : sign * Number.POSITIVE_INFINITY;
  return sign * (1 + frac / 1024) * 2 ** (exp - 15);
}

function toFloat32(dtype: string, bytes: Uint8Array): Float32Array {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const n = bytes.byteLength / (FLOAT_SIZES[dtype] ?? 4);
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    if (dtype === "F32") out[i] = view.getFloat32(i * 4, true);
    else if (dtype === "F64") out[i] = view.getFloat64(i * 8, true);
    else if (dtype === "F16") out[i] = halfToFloat(view.getUint16(i * 2, true));
    // bfloat16 is the top half of a float32.
    else out[i] = new Float32Array(new Uint32Array([view.getUint16(i * 2, true) << 16]).buffer)[0] ?? 0;
  }
  return out;
}

/**
 * The tensors of a safetensors file as float32 (1-D as Float32Array, others as Tensor, as the wire
 * carries numpy arrays), in the header's name order, and its metadata. `file` names the file in
 * errors (the user's path).
 */
export function parseSafetensors(bytes: Uint8Array, file: string): { params: SafetensorsParams; metadata: Record<string, string> } {
  if (bytes.byteLength < 8) throw bad(file, `it has ${bytes.byteLength} bytes, fewer than the 8 of its header length`);
  const n = new DataView(bytes.buffer, bytes.byteOffset, 8).getBigUint64(0, true);
  if (n < 2n || n > BigInt(MAX_SAFETENSORS_HEADER))
    throw bad(file, `header length ${n} is outside 2..${MAX_SAFETENSORS_HEADER} bytes`, { headerLength: n.toString() });
  const headerLength = Number(n);
  if (8 + headerLength > bytes.byteLength)
    throw bad(file, `header length ${headerLength} runs past the file's end (${bytes.byteLength} bytes)`, { headerLength });
  let header: unknown;
  try {
    header = JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(bytes.subarray(8, 8 + headerLength)));
  } catch (err) {
    throw bad(file, `its header is not UTF-8 JSON (${(err as Error).message.slice(0, 200)})`);
  }
  if (!isRecord(header)) throw bad(file, "its header is not a JSON object");
  const body = bytes.subarray(8 + headerLength);
  const metadata: Record<string, string> = {};
  const entries: { name: string; dtype: string; shape: number[]; start: number; end: number }[] = [];
  for (const [name, info] of Object.entries(header)) {
    if (name === "__metadata__") {
      if (!isRecord(info) || !Object.values(info).every((v) => typeof v === "string")) throw bad(file, "__metadata__ must map names to strings");
      Object.assign(metadata, info);
      continue;
    }
    const shown = JSON.stringify(name.slice(0, 200));
    if (name.length === 0 || name.length > MAX_NAME) throw bad(file, `a tensor name has ${name.length} characters (1 to ${MAX_NAME})`);
    if (entries.length >= MAX_SAFETENSORS_TENSORS) throw bad(file, `it holds more than ${MAX_SAFETENSORS_TENSORS} tensors`);
    if (!isRecord(info)) throw bad(file, `tensor ${shown} is not described by an object`, { tensor: name });
    const { dtype, shape, data_offsets: offsets } = info;
    if (typeof dtype !== "string" || FLOAT_SIZES[dtype] === undefined)
      throw bad(
        file,
        `tensor ${shown} has dtype ${JSON.stringify(dtype)}: Cohort's models are float32 (F32; F64, F16 and BF16 are converted), so integer and bool tensors are refused: leave buffers such as BatchNorm's num_batches_tracked out of the weights`,
        { tensor: name, dtype },
      );
    if (!Array.isArray(shape) || shape.length > MAX_DIMS || !shape.every(isCount))
      throw bad(file, `tensor ${shown} has shape ${String(JSON.stringify(shape)).slice(0, 200)}: a list of at most ${MAX_DIMS} non-negative integers`, {
        tensor: name,
      });
    if (!Array.isArray(offsets) || offsets.length !== 2 || !offsets.every(isCount) || (offsets[0] as number) > (offsets[1] as number))
      throw bad(file, `tensor ${shown} has data_offsets ${String(JSON.stringify(offsets)).slice(0, 200)}: [begin, end] with begin <= end`, { tensor: name });
    const [start, end] = offsets as [number, number];
    let count = 1;
    for (const d of shape as number[]) {
      count *= d;
      if (count > body.byteLength)
        throw bad(file, `tensor ${shown}'s shape [${shape.join(", ")}] holds more elements than the file has bytes`, { tensor: name });
    }
    if (end - start !== count * (FLOAT_SIZES[dtype] ?? 4))
      throw bad(
        file,
        `tensor ${shown}: data_offsets [${start}, ${end}] hold ${end - start} bytes, its ${dtype} shape [${shape.join(", ")}] needs ${count * (FLOAT_SIZES[dtype] ?? 4)}`,
        {
          tensor: name,
        },
      );
    entries.push({ name, dtype, shape: shape as number[], start, end });
  }
  if (entries.length === 0) throw bad(file, "it holds no tensors");
  // The tensors must tile the data: sorted by offset, each begins where the previous ended.
  const byOffset = [...entries].sort((a, b) => a.start - b.start || a.end - b.end);
  let at = 0;
  for (const e of byOffset) {
    if (e.start !== at)
      throw bad(file, `tensor ${JSON.stringify(e.name.slice(0, 200))} begins at ${e.start}, expected ${at}: tensors overlap or leave a gap`, {
        tensor: e.name,
      });
    at = e.end;
  }
  if (at !== body.byteLength) throw bad(file, `the tensors end at byte ${at} of ${body.byteLength} data bytes`, { end: at, data: body.byteLength });
  const params: SafetensorsParams = {};
  for (const e of entries) {
    const data = toFloat32(e.dtype, body.subarray(e.start, e.end));
    params[e.name] = e.shape.length === 1 ? data : new Tensor(data, e.shape);
  }
  return { params, metadata };
}

/** A model's float32 parameters as a safetensors file (names sorted, data 8-byte aligned, as the library writes). */
export function encodeSafetensors(params: WireRecord, metadata: Record<string, string> = {}, what = "the model"): Uint8Array {
  const header: Record<string, unknown> = {};
  const chunks: Uint8Array[] = [];
  let offset = 0;
  for (const name of Object.keys(params).sort()) {
    const value = params[name];
    const data = value instanceof Tensor ? value.data : value;
    if (!(data instanceof Float32Array))
      throw new CohortError(
        WorkflowErrorCode.BadModel,
        `${what}: parameter ${JSON.stringify(name)} is not float32; a safetensors model holds float32 tensors`,
        { name },
      );
    const shape = value instanceof Tensor ? [...value.shape] : [data.length];
    const raw = new Uint8Array(data.byteLength);
    const view = new DataView(raw.buffer);
    for (let i = 0; i < data.length; i++) view.setFloat32(i * 4, data[i] ?? 0, true);
    header[name] = { dtype: "F32", shape, data_offsets: [offset, offset + raw.byteLength] };
    chunks.push(raw);
    offset += raw.byteLength;
  }
  if (Object.keys(metadata).length > 0) header["__metadata__"] = metadata;
  let text = new TextEncoder().encode(JSON.stringify(header));
  const pad = (8 - (text.byteLength % 8)) % 8;
  if (pad > 0) text = new TextEncoder().encode(JSON.stringify(header) + " ".repeat(pad));
  const out = new Uint8Array(8 + text.byteLength + offset);
  new DataView(out.buffer).setBigUint64(0, BigInt(text.byteLength), true);
  out.set(text, 8);
  let at = 8 + text.byteLength;
  for (const c of chunks) {
    out.set(c, at);
    at += c.byteLength;
  }
  return out;
}
