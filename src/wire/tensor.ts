import { WireError } from "./errors.js";
import { bytesOf, dtypeOf, requireDType, typedArrayFromBytes, type DType, type TypedArray } from "./dtype.js";

export const MAX_TENSOR_RANK = 32;

/** Number of elements of `shape`, or a refusal when a dimension is not a non-negative integer. */
function elementCount(shape: readonly unknown[]): number {
  if (shape.length > MAX_TENSOR_RANK) {
    throw new WireError("ERR_WIRE_TENSOR_SHAPE", `tensor rank ${shape.length} exceeds ${MAX_TENSOR_RANK}`, { rank: shape.length });
  }
  let count = 1;
  for (const dim of shape) {
    if (typeof dim !== "number" || !Number.isSafeInteger(dim) || dim < 0) {
      throw new WireError("ERR_WIRE_TENSOR_SHAPE", "tensor shape entries must be non-negative integers", { shape: shape.slice(0, 8).map(String) });
    }
    count *= dim;
  }
  return count;
}

/**
 * An n-dimensional array: `data` holds the elements in row-major order and `dtype` names their
 * type. It travels as raw little-endian bytes (extension 3 in docs/protocol.md).
 */
export class Tensor<A extends TypedArray = TypedArray> {
  readonly dtype: DType;
  readonly shape: readonly number[];
  readonly data: A;

  constructor(data: A, shape: readonly number[] = [data.length]) {
    const info = dtypeOf(data);
    if (!info) throw new WireError("ERR_WIRE_UNKNOWN_DTYPE", "tensor data is not a supported typed array", {});
    const count = elementCount(shape);
    if (count !== data.length) {
      throw new WireError("ERR_WIRE_TENSOR_SHAPE", `shape [${shape.join(", ")}] holds ${count} elements, data has ${data.length}`, {
        shape: [...shape],
        length: data.length,
      });
    }
    this.dtype = info.name;
    this.shape = Object.freeze([...shape]);
    this.data = data;
  }
}

/** Wire state: [dtype, shape, raw bytes]. */
export function decomposeTensor(tensor: Tensor): unknown {
  return [tensor.dtype, [...tensor.shape], bytesOf(tensor.data)];
}

export function recomposeTensor(state: unknown): Tensor {
  if (!Array.isArray(state) || state.length !== 3) {
    throw new WireError("ERR_WIRE_INVALID_VALUE", "tensor state must be [dtype, shape, bytes]", {});
  }
  const [dtype, shape, raw] = state as [unknown, unknown, unknown];
  const info = requireDType(dtype, {});
  if (!Array.isArray(shape)) throw new WireError("ERR_WIRE_TENSOR_SHAPE", "tensor shape must be an array", {});
  if (!ArrayBuffer.isView(raw) || raw instanceof DataView) {
    throw new WireError("ERR_WIRE_INVALID_VALUE", "tensor data must be binary", {});
  }
  const bytes = bytesOf(raw);
  const count = elementCount(shape);
  if (count * info.itemSize !== bytes.byteLength) {
    throw new WireError(
      "ERR_WIRE_TENSOR_SHAPE",
      `tensor of dtype ${info.name} and shape [${shape.slice(0, 8).join(", ")}] needs ${count * info.itemSize} bytes, got ${bytes.byteLength}`,
      { dtype: info.name, shape: shape.slice(0, 8), expectedBytes: count * info.itemSize, byteLength: bytes.byteLength },
    );
  }
  return new Tensor(typedArrayFromBytes(info, bytes), shape as number[]);
}
