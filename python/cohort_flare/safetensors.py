"""safetensors files without the safetensors package (the format: an 8-byte little-endian header
length, a JSON header {name: {dtype, shape, data_offsets}} and the tensors' bytes). Cohort's server
keeps PyTorch models in this format (it never unpickles .pt files): `load_file` reads its results
into numpy or torch, `save_file` writes the initial weights a PyTorch recipe exports."""

import json
import struct

import numpy as np

__all__ = ["load_file", "save_file"]

_DTYPES = {"F64": "<f8", "F32": "<f4", "F16": "<f2", "I64": "<i8", "I32": "<i4", "I16": "<i2", "I8": "i1", "U8": "u1", "BOOL": "?"}
_BY_NUMPY = {np.dtype(v).str: k for k, v in _DTYPES.items()}
#: The header is JSON; 100 MB is the bound the safetensors library itself applies.
MAX_HEADER = 100_000_000


def _as_numpy(value):
    if type(value).__module__.split(".")[0] == "torch" and hasattr(value, "detach"):
        value = value.detach().cpu().numpy()
    return np.asarray(value)


def save_file(tensors, filename, metadata=None):
    """Writes {name: numpy array or torch tensor} to `filename` (names in sorted order, as the
    safetensors library does)."""
    header = {}
    chunks = []
    offset = 0
    for name in sorted(tensors):
        arr = np.ascontiguousarray(_as_numpy(tensors[name]))
        arr = arr.astype(arr.dtype.newbyteorder("<")) if arr.dtype.byteorder == ">" else arr
        dtype = _BY_NUMPY.get(arr.dtype.str)
        if dtype is None:
            raise ValueError(f"safetensors: {name!r} has dtype {arr.dtype}, which this writer does not handle; convert it (e.g. .astype(np.float32))")
        raw = arr.tobytes()
        header[name] = {"dtype": dtype, "shape": list(arr.shape), "data_offsets": [offset, offset + len(raw)]}
        chunks.append(raw)
        offset += len(raw)
    if metadata:
        header["__metadata__"] = {str(k): str(v) for k, v in metadata.items()}
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * (-len(text) % 8)  # the library aligns the data to 8 bytes
    with open(filename, "wb") as f:
        f.write(struct.pack("<Q", len(text)))
        f.write(text)
        for raw in chunks:
            f.write(raw)


def load_file(filename, framework="numpy"):
    """{name: array} from a safetensors file; framework "pt" gives torch tensors."""
    with open(filename, "rb") as f:
        data = f.read()
    if len(data) < 8:
        raise ValueError(f"{filename}: not a safetensors file (shorter than its 8-byte header length)")
    (n,) = struct.unpack("<Q", data[:8])
    if n > MAX_HEADER or 8 + n > len(data):
        raise ValueError(f"{filename}: header length {n} is past the file's end or over {MAX_HEADER} bytes")
    header = json.loads(data[8 : 8 + n])
    body = memoryview(data)[8 + n :]
    out = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        dtype = _DTYPES.get(info.get("dtype"))
        if dtype is None:
            raise ValueError(f"{filename}: {name!r} has dtype {info.get('dtype')!r}, which this reader does not handle")
        start, end = info["data_offsets"]
        shape = [int(d) for d in info["shape"]]
        dt = np.dtype(dtype)
        if not 0 <= start <= end <= len(body) or end - start != int(np.prod(shape, dtype=np.int64)) * dt.itemsize:
            raise ValueError(f"{filename}: {name!r} has data_offsets {info['data_offsets']} that do not fit its shape {shape} or the file")
        out[name] = np.frombuffer(body[start:end], dtype=dt).reshape(shape).copy()
    if framework in ("pt", "torch", "pytorch"):
        import torch

        return {k: torch.from_numpy(v) for k, v in out.items()}
    if framework != "numpy":
        raise ValueError(f"framework {framework!r}: use 'numpy' or 'pt'")
    return out
