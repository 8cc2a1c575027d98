"""Cohort's wire format (docs/protocol.md section 1) for Python: MessagePack with Cohort's
extension types, numpy arrays as raw little-endian bytes, and frames for large arrays.

Only the standard library, msgpack and numpy. Decoding builds only plain values, numpy arrays and
the classes of this package: nothing on the wire names code to run.
"""

import struct

import msgpack
import numpy as np

from .model import DXO, FLModel, Shareable

# section 1.4: dtype code <-> numpy dtype (little-endian)
DTYPES = [
    (1, "int8", "<i1"),
    (2, "uint8", "<u1"),
    (3, "int16", "<i2"),
    (4, "uint16", "<u2"),
    (5, "int32", "<i4"),
    (6, "uint32", "<u4"),
    (7, "float32", "<f4"),
    (8, "float64", "<f8"),
    (9, "bigint64", "<i8"),
]
_BY_CODE = {c: (n, np.dtype(d)) for c, n, d in DTYPES}
_BY_NAME = {n: (c, np.dtype(d)) for c, n, d in DTYPES}
_BY_KIND = {(np.dtype(d).kind, np.dtype(d).itemsize): (c, n) for c, n, d in DTYPES}

EXT_TYPED_INLINE = 1
EXT_TYPED_SECTION = 2
EXT_TENSOR = 3
EXT_BIGINT = 4
EXT_MAP = 5
EXT_SHAREABLE = 6
EXT_DXO = 7
EXT_FLMODEL = 8
_NAMES = {
    EXT_TENSOR: "cohort.Tensor",
    EXT_BIGINT: "cohort.BigInt",
    EXT_MAP: "cohort.Map",
    EXT_SHAREABLE: "cohort.Shareable",
    EXT_DXO: "cohort.DXO",
    EXT_FLMODEL: "cohort.FLModel",
}

FRAME_MAGIC = b"\xc1CWF"
SECTION_THRESHOLD = 64 * 1024
MAX_SAFE_INT = 2**53 - 1
MAX_MESSAGE_BYTES = 2 * 1024**3 - 2 * 1024**2


class WireError(ValueError):
    """A refused message; `code` is one of docs/protocol.md section 1.7."""

    def __init__(self, code, message):
        super().__init__(f"{code}: {message}")
        self.code = code


def _dtype_of(arr):
    key = (arr.dtype.kind, arr.dtype.itemsize)
    if arr.dtype.kind == "b":
        raise WireError("ERR_WIRE_UNSUPPORTED_VALUE", "bool arrays are not in Cohort's wire format; send arr.astype(np.uint8)")
    if key not in _BY_KIND:
        raise WireError("ERR_WIRE_UNKNOWN_DTYPE", f"numpy dtype {arr.dtype} is not in Cohort's wire format (docs/protocol.md 1.4); convert it, e.g. arr.astype(np.float32)")
    return _BY_KIND[key]


class _Encoder:
    """One message: arrays of at least `threshold` bytes become frame sections (no copy)."""

    def __init__(self, threshold=SECTION_THRESHOLD):
        self.threshold = threshold
        self.sections = []

    def pack(self, value):
        return msgpack.packb(value, use_bin_type=True, datetime=True, default=self.default, strict_types=False)

    def _registered(self, code, state):
        return msgpack.ExtType(code, self.pack([_NAMES[code], state]))

    def _array_ref(self, arr):
        """ext 1 (inline) or ext 2 (section) for a 1-D little-endian contiguous array."""
        code, _ = _dtype_of(arr)
        arr = np.ascontiguousarray(arr, dtype=arr.dtype.newbyteorder("<"))
        if arr.nbytes >= self.threshold:
            self.sections.append(memoryview(arr).cast("B"))
            return msgpack.ExtType(EXT_TYPED_SECTION, struct.pack("<BI", code, len(self.sections) - 1))
        return msgpack.ExtType(EXT_TYPED_INLINE, bytes([code]) + arr.tobytes())

    def default(self, obj):
        if isinstance(obj, np.ndarray):
            _, name = _dtype_of(obj)
            if obj.ndim == 1:
                return self._array_ref(obj)
            # Tensor data as raw bytes (bin, or a uint8 section when large), as Cohort writes it.
            flat = np.ascontiguousarray(obj, dtype=obj.dtype.newbyteorder("<")).reshape(-1)
            raw = flat.view(np.uint8)
            data = self._array_ref(raw) if raw.nbytes >= self.threshold else raw.tobytes()
            return self._registered(EXT_TENSOR, [name, list(obj.shape), data])
        if isinstance(obj, np.generic):
            return obj.item()
        if isinstance(obj, FLModel):
            return self._registered(EXT_FLMODEL, obj.to_state())
        if isinstance(obj, DXO):
            return self._registered(EXT_DXO, {"data_kind": obj.data_kind, "data": obj.data, "meta": obj.meta})
        if isinstance(obj, Shareable):
            return self._registered(EXT_SHAREABLE, {"headers": obj.headers, "data": obj.data})
        if isinstance(obj, (tuple, list)):
            return list(obj)
        raise WireError("ERR_WIRE_UNSUPPORTED_VALUE", f"cannot encode a value of type {type(obj).__name__}")


def _check_ints(value, depth=0):
    """Python ints beyond +-(2^53-1) travel as cohort.BigInt (msgpack would write int 64)."""
    if depth > 64:
        raise WireError("ERR_WIRE_TOO_DEEP", "nesting deeper than 64")
    if isinstance(value, bool):
        return value
    if isinstance(value, int):
        return _Big(value) if abs(value) > MAX_SAFE_INT else value
    if isinstance(value, dict):
        return {k: _check_ints(v, depth + 1) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_check_ints(v, depth + 1) for v in value]
    if isinstance(value, FLModel):
        return FLModel(
            params=_check_ints(value.params, depth + 1), params_type=value.params_type, metrics=_check_ints(value.metrics, depth + 1) if value.metrics is not None else None,
            meta=_check_ints(value.meta, depth + 1), current_round=value.current_round, total_rounds=value.total_rounds,
        )
    return value


class _Big:
    __slots__ = ("n",)

    def __init__(self, n):
        self.n = n


def encode_parts(value, threshold=SECTION_THRESHOLD, align_log2=12):
    """The buffers to write in order: one MessagePack value, or a frame head then sections and padding."""
    enc = _Encoder(threshold)
    orig_default = enc.default

    def default(obj):
        if isinstance(obj, _Big):
            return enc._registered(EXT_BIGINT, str(obj.n))
        return orig_default(obj)

    enc.default = default
    body = enc.pack(_check_ints(value))
    if not enc.sections:
        return [body]
    align = 1 << align_log2
    head = bytearray(FRAME_MAGIC + bytes([1, align_log2, 0, 0]) + struct.pack("<II", len(enc.sections), len(body)))
    for s in enc.sections:
        head += struct.pack("<Q", s.nbytes)
    head += body
    head += bytes(-len(head) % align)
    parts = [bytes(head)]
    for s in enc.sections:
        parts.append(s)
        pad = -s.nbytes % align
        if pad:
            parts.append(bytes(pad))
    return parts


def encode(value, threshold=SECTION_THRESHOLD, align_log2=12):
    return b"".join(bytes(p) for p in encode_parts(value, threshold, align_log2))


def _parse_frame(buf):
    mv = memoryview(buf)
    if len(mv) < 16 or bytes(mv[:4]) != FRAME_MAGIC:
        raise WireError("ERR_WIRE_MALFORMED", "bad frame magic")
    version, align_log2 = mv[4], mv[5]
    if version != 1 or not 3 <= align_log2 <= 12 or bytes(mv[6:8]) != b"\0\0":
        raise WireError("ERR_WIRE_MALFORMED", "unsupported frame version, alignment or reserved bytes")
    n, body_len = struct.unpack_from("<II", mv, 8)
    pos = 16 + 8 * n
    if pos + body_len > len(mv):
        raise WireError("ERR_WIRE_TRUNCATED", "frame section table or body runs past the end")
    lengths = struct.unpack_from(f"<{n}Q", mv, 16) if n else ()
    body = mv[pos : pos + body_len]
    align = 1 << align_log2
    pos += body_len
    sections = []
    for length in lengths:
        pad = -pos % align
        if any(mv[pos : pos + pad]):
            raise WireError("ERR_WIRE_MALFORMED", "non-zero frame padding")
        pos += pad
        if pos + length > len(mv):
            raise WireError("ERR_WIRE_TRUNCATED", "a frame section runs past the end")
        sections.append((pos, length))
        pos += length
    pad = -pos % align
    if any(mv[pos : pos + pad]):
        raise WireError("ERR_WIRE_MALFORMED", "non-zero frame padding")
    pos += pad
    if pos != len(mv):
        raise WireError("ERR_WIRE_MALFORMED", "trailing bytes after the last frame section")
    return body, sections


def _array_from(code, buf, offset, length, copy):
    if code not in _BY_CODE:
        raise WireError("ERR_WIRE_UNKNOWN_DTYPE", f"dtype code {code}")
    _, dt = _BY_CODE[code]
    if length % dt.itemsize:
        raise WireError("ERR_WIRE_TENSOR_SHAPE", f"{length} bytes is not a multiple of {dt.itemsize}")
    if offset % dt.itemsize:
        copy = True
    arr = np.frombuffer(buf, dtype=dt, count=length // dt.itemsize, offset=offset)
    return arr.copy() if copy else arr


def decode(data):
    """Decodes one message (plain MessagePack or a frame). Section arrays are views into `data`
    (writable when `data` is a bytearray); inline arrays are copies."""
    if len(data) == 0:
        raise WireError("ERR_WIRE_TRUNCATED", "empty message")
    if len(data) > MAX_MESSAGE_BYTES:
        raise WireError("ERR_WIRE_TOO_LARGE", f"{len(data)} bytes")
    sections = []
    used = set()
    body = data
    if data[0] == 0xC1:
        body, sections = _parse_frame(data)

    def hook(code, payload):
        if code == EXT_TYPED_INLINE:
            if len(payload) < 1:
                raise WireError("ERR_WIRE_MALFORMED", "empty typed array extension")
            return _array_from(payload[0], payload, 1, len(payload) - 1, copy=True)
        if code == EXT_TYPED_SECTION:
            if len(payload) != 5:
                raise WireError("ERR_WIRE_MALFORMED", "section reference must be 5 bytes")
            dcode, index = struct.unpack("<BI", payload)
            if index >= len(sections) or index in used:
                raise WireError("ERR_WIRE_MALFORMED", f"bad or repeated section reference {index}")
            used.add(index)
            off, length = sections[index]
            return _array_from(dcode, data, off, length, copy=False)
        if code not in _NAMES:
            raise WireError("ERR_WIRE_UNKNOWN_TYPE", f"extension {code}")
        inner = _unpack(payload, hook)
        if not isinstance(inner, list) or len(inner) != 2 or inner[0] != _NAMES[code]:
            raise WireError("ERR_WIRE_UNKNOWN_TYPE", f"extension {code} does not carry {_NAMES[code]}")
        return _build(code, inner[1])

    value = _unpack(body, hook)
    if len(used) != len(sections):
        raise WireError("ERR_WIRE_MALFORMED", "a frame section is not referenced")
    return value


def _unpack(body, hook):
    try:
        return msgpack.unpackb(body, raw=False, strict_map_key=True, ext_hook=hook, timestamp=3, use_list=True)
    except WireError:
        raise
    except (ValueError, msgpack.ExtraData, msgpack.FormatError, msgpack.StackError) as e:
        raise WireError("ERR_WIRE_MALFORMED", str(e)) from e


def _build(code, state):
    if code == EXT_TENSOR:
        if not isinstance(state, list) or len(state) != 3:
            raise WireError("ERR_WIRE_INVALID_VALUE", "tensor state must be [dtype, shape, data]")
        name, shape, raw = state
        if name not in _BY_NAME:
            raise WireError("ERR_WIRE_UNKNOWN_DTYPE", str(name))
        if not isinstance(shape, list) or len(shape) > 32 or not all(isinstance(d, int) and d >= 0 for d in shape):
            raise WireError("ERR_WIRE_TENSOR_SHAPE", "bad tensor shape")
        dt = _BY_NAME[name][1]
        if isinstance(raw, np.ndarray):
            flat = raw.view(np.uint8).reshape(-1)
        elif isinstance(raw, (bytes, bytearray)):
            flat = np.frombuffer(raw, dtype=np.uint8).copy()
        else:
            raise WireError("ERR_WIRE_INVALID_VALUE", "tensor data must be binary")
        count = int(np.prod(shape)) if shape else 1
        if count * dt.itemsize != flat.nbytes:
            raise WireError("ERR_WIRE_TENSOR_SHAPE", f"tensor {name} {shape} needs {count * dt.itemsize} bytes, got {flat.nbytes}")
        return flat.view(dt).reshape(shape)
    if code == EXT_BIGINT:
        if not isinstance(state, str) or len(state) > 4097:
            raise WireError("ERR_WIRE_INVALID_VALUE", "bigint state must be a decimal string")
        return int(state)
    if code == EXT_MAP:
        if not isinstance(state, list) or len(state) % 2:
            raise WireError("ERR_WIRE_INVALID_VALUE", "map state must be a flat [k, v, ...] array")
        return {_hashable(state[i]): state[i + 1] for i in range(0, len(state), 2)}
    if code == EXT_SHAREABLE:
        return Shareable(headers=state.get("headers", {}), data=state.get("data", {}))
    if code == EXT_DXO:
        return DXO(data_kind=state["data_kind"], data=state["data"], meta=state.get("meta", {}))
    if code == EXT_FLMODEL:
        if not isinstance(state, dict):
            raise WireError("ERR_WIRE_INVALID_VALUE", "FLModel state must be a map")
        return FLModel.from_state(state)
    raise WireError("ERR_WIRE_UNKNOWN_TYPE", f"extension {code}")


def _hashable(k):
    return tuple(k) if isinstance(k, list) else k
