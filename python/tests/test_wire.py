"""cohort_flare.wire against docs/protocol.md section 1 (test vectors) and section 3 (channel)."""

import struct
import unittest

import numpy as np

import cohort_flare as flare
from cohort_flare.wire import WireError, decode, encode


def hx(s):
    return bytes.fromhex(s.replace(" ", "").replace("\n", ""))


class Vectors(unittest.TestCase):
    """docs/protocol.md 1.8: Python writes exactly Cohort's bytes and reads them back."""

    def test_map(self):
        b = hx("82 a4 74 61 73 6b a5 74 72 61 69 6e a5 72 6f 75 6e 64 03")
        self.assertEqual(encode({"task": "train", "round": 3}), b)
        self.assertEqual(decode(b), {"task": "train", "round": 3})

    def test_typed_array_inline(self):
        b = hx("c7 09 01 07 00 00 80 3f 00 00 00 40")
        self.assertEqual(encode(np.array([1, 2], dtype=np.float32)), b)
        a = decode(b)
        self.assertEqual(a.dtype, np.float32)
        self.assertEqual(a.tolist(), [1.0, 2.0])

    def test_tensor(self):
        b = hx("c7 25 03 92 ad 63 6f 68 6f 72 74 2e 54 65 6e 73 6f 72 93 a7 66 6c 6f 61 74 33 32 92 01 02 c4 08 00 00 80 3f 00 00 00 40")
        self.assertEqual(encode(np.array([[1, 2]], dtype=np.float32)), b)
        t = decode(b)
        self.assertEqual(t.shape, (1, 2))
        self.assertEqual(t.tolist(), [[1.0, 2.0]])

    def test_bigint(self):
        b = hx("c7 24 04 92 ad 63 6f 68 6f 72 74 2e 42 69 67 49 6e 74 b4 31 38 34 34 36 37 34 34 30 37 33 37 30 39 35 35 31 36 31 36")
        self.assertEqual(encode(2**64), b)
        self.assertEqual(decode(b), 2**64)

    def test_flmodel(self):
        b = hx(
            "c7 56 08 92 ae 63 6f 68 6f 72 74 2e 46 4c 4d 6f 64 65 6c 86 a6 70 61 72 61 6d 73 80 ab 70 61 72 61 6d 73 5f 74 79 70 65 a4 46 55 4c 4c a7 6d 65 74 72 69 63 73 c0 a4 6d 65 74 61 80 ad 63 75 72 72 65 6e 74 5f 72 6f 75 6e 64 01 ac 74 6f 74 61 6c 5f 72 6f 75 6e 64 73 02"
        )
        self.assertEqual(encode(flare.FLModel(params={}, params_type="FULL", current_round=1, total_rounds=2)), b)
        m = decode(b)
        self.assertIsInstance(m, flare.FLModel)
        self.assertEqual((m.params_type, m.current_round, m.total_rounds, m.metrics), ("FULL", 1, 2, None))

    def test_frame(self):
        b = hx(
            "c1 43 57 46 01 03 00 00 01 00 00 00 0b 00 00 00 0c 00 00 00 00 00 00 00"
            "81 a1 77 c7 05 02 07 00 00 00 00 00 00 00 00 00"
            "00 00 80 3f 00 00 00 40 00 00 40 40 00 00 00 00"
        )
        self.assertEqual(encode({"w": np.array([1, 2, 3], dtype=np.float32)}, threshold=8, align_log2=3), b)
        self.assertEqual(decode(bytearray(b))["w"].tolist(), [1.0, 2.0, 3.0])

    def test_hostile(self):
        for bad, code in [("d4 63 00", "ERR_WIRE_UNKNOWN_TYPE"), ("dd ff ff ff ff c0", "ERR_WIRE_MALFORMED")]:
            with self.assertRaises(WireError) as cm:
                decode(hx(bad))
            self.assertEqual(cm.exception.code, code)


class RoundTrip(unittest.TestCase):
    def test_every_dtype(self):
        for dt in ["i1", "u1", "i2", "u2", "i4", "u4", "f4", "f8", "i8"]:
            a = np.arange(7, dtype=dt)
            b = decode(encode(a))
            self.assertEqual(b.dtype, np.dtype("<" + dt).newbyteorder("<"))
            np.testing.assert_array_equal(a, b)

    def test_big_endian_input_is_written_little_endian(self):
        a = np.arange(4, dtype=">f4")
        self.assertEqual(encode(a), encode(a.astype("<f4")))

    def test_large_arrays_go_to_sections_and_decode_as_writable_views(self):
        m = flare.FLModel(params={"w": np.arange(100_000, dtype=np.float32), "t": np.ones((300, 100), dtype=np.float64)}, params_type="FULL", meta={"n": 1})
        raw = encode(m)
        self.assertEqual(raw[0], 0xC1)
        back = decode(bytearray(raw))
        np.testing.assert_array_equal(back.params["w"], m.params["w"])
        self.assertEqual(back.params["t"].shape, (300, 100))
        back.params["w"][0] = 5  # a view into the received buffer, writable
        self.assertEqual(back.meta, {"n": 1})

    def test_unsupported_dtypes_are_refused_with_a_fix(self):
        with self.assertRaisesRegex(WireError, "float16.*astype"):
            encode(np.zeros(3, dtype=np.float16))
        with self.assertRaisesRegex(WireError, "bool"):
            encode(np.zeros(3, dtype=bool))

    def test_numpy_scalars_become_numbers(self):
        self.assertEqual(decode(encode({"a": np.float32(0.5), "n": np.int64(3)})), {"a": 0.5, "n": 3})

    def test_section_references_are_checked(self):
        raw = bytearray(encode({"w": np.zeros(3, dtype=np.float32)}, threshold=8, align_log2=3))
        raw[-1] = 1  # non-zero padding
        with self.assertRaises(WireError):
            decode(raw)


class Channel(unittest.TestCase):
    def test_frame_is_u32_le_length_then_message(self):
        import socket

        a, b = socket.socketpair()
        ch = flare.channel.Channel(a)
        ch.write({"type": "ready", "version": 1})
        body = encode({"type": "ready", "version": 1})
        got = b.recv(100)
        self.assertEqual(got, struct.pack("<I", len(body)) + body)
        # docs/protocol.md 3.4
        self.assertEqual(got, hx("15 00 00 00 82 a4 74 79 70 65 a5 72 65 61 64 79 a7 76 65 72 73 69 6f 6e 01"))
        b.sendall(hx("26 00 00 00 83 a4 74 79 70 65 a3 6c 6f 67 a3 6b 65 79 a8 61 63 63 75 72 61 63 79 a5 76 61 6c 75 65 cb 3f e0 00 00 00 00 00 00"))
        self.assertEqual(ch.read(), {"type": "log", "key": "accuracy", "value": 0.5})
        a.close()
        b.close()


if __name__ == "__main__":
    unittest.main()
