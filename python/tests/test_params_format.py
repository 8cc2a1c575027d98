"""FLARE's pytorch params exchange: torch tensors in the script, numpy arrays on the wire; and the
safetensors reader and writer. Tests needing torch skip where it is not installed (Debian:
python3-torch); the numpy path is tested without it."""

import importlib.util
import os
import subprocess
import sys
import tempfile
import unittest

import numpy as np

import cohort_flare as flare
from cohort_flare import params_format, safetensors
from tests.test_api import ChannelCase

HAS_TORCH = importlib.util.find_spec("torch") is not None
NO_TORCH = "torch is not installed (Debian: apt-get install python3-torch)"


class Env:
    def __init__(self, value):
        self.value = value

    def __enter__(self):
        self.old = os.environ.get(params_format.FORMAT_ENV)
        if self.value is None:
            os.environ.pop(params_format.FORMAT_ENV, None)
        else:
            os.environ[params_format.FORMAT_ENV] = self.value

    def __exit__(self, *_):
        if self.old is None:
            os.environ.pop(params_format.FORMAT_ENV, None)
        else:
            os.environ[params_format.FORMAT_ENV] = self.old


class NumpyFormat(ChannelCase):
    def test_numpy_scripts_get_numpy_and_never_import_torch(self):
        code = (
            "import sys, numpy as np; from cohort_flare import params_format as p;"
            "r = p.to_numpy({'w': np.ones(2, np.float32)}); assert isinstance(r['w'], np.ndarray);"
            "assert p.exchange_format() == 'numpy'; assert 'torch' not in sys.modules"
        )
        env = {k: v for k, v in os.environ.items() if k != params_format.FORMAT_ENV}
        subprocess.run([sys.executable, "-c", code], check=True, env=env)

    def test_receive_gives_numpy_by_default(self):
        with Env(None):
            self.task("1", "train", "train")
            self.assertIsInstance(flare.receive().params["w"], np.ndarray)

    def test_auto_is_pytorch_only_where_torch_is_installed(self):
        with Env("auto"):
            self.assertEqual(params_format.exchange_format(), "pytorch" if HAS_TORCH else "numpy")
        code = "import sys; sys.modules['torch'] = None; from cohort_flare import params_format as p; assert p.exchange_format() == 'numpy', p.exchange_format()"
        env = {**os.environ, params_format.FORMAT_ENV: "auto"}
        subprocess.run([sys.executable, "-c", code], check=True, env=env)

    def test_an_unknown_format_is_refused(self):
        with Env("keras_layer_weights"):
            with self.assertRaisesRegex(RuntimeError, "numpy' or 'pytorch"):
                params_format.exchange_format()


@unittest.skipUnless(HAS_TORCH, NO_TORCH)
class PytorchFormat(ChannelCase):
    def test_receive_gives_tensors_and_send_takes_a_state_dict(self):
        import torch

        with Env("pytorch"):
            self.task("1", "train", "train", 2)
            model = flare.receive()
            self.assertIsInstance(model.params["w"], torch.Tensor)
            self.assertEqual(model.params["w"].dtype, torch.float32)
            self.assertIs(flare.receive(), model, "converted once per task")
            net = torch.nn.Linear(3, 2)
            with torch.no_grad():
                net.weight.copy_(model.params["w"].reshape(2, 3))
                net.bias.copy_(model.params["b"])
            flare.send(flare.FLModel(params=net.cpu().state_dict(), meta={"NUM_STEPS_CURRENT_ROUND": 5}))
            result = self.exe.read()["model"]
            self.assertEqual(result.current_round, 2)
            self.assertIsInstance(result.params["weight"], np.ndarray)
            self.assertEqual(result.params["weight"].shape, (2, 3))
            np.testing.assert_array_equal(result.params["weight"].reshape(-1), np.arange(6, dtype=np.float32))

    def test_tensors_needing_grad_on_any_device_and_bools_convert(self):
        import torch

        out = params_format.to_numpy({"p": torch.ones(2, requires_grad=True) * 2, "m": torch.tensor([True, False]), "n": np.zeros(1)})
        np.testing.assert_array_equal(out["p"], [2, 2])
        self.assertEqual(out["m"].dtype, np.uint8)
        self.assertIsInstance(out["n"], np.ndarray)

    def test_read_only_wire_arrays_become_writable_tensors(self):
        arr = np.frombuffer(np.arange(4, dtype=np.float32).tobytes(), dtype=np.float32)
        t = params_format.to_torch({"a": arr})["a"]
        t.add_(1)
        np.testing.assert_array_equal(arr, [0, 1, 2, 3])


class Safetensors(unittest.TestCase):
    def test_round_trip(self):
        tensors = {"conv.weight": np.arange(24, dtype=np.float32).reshape(2, 3, 2, 2), "b": np.array([1.5], np.float64), "n": np.array(7, np.int64)}
        with tempfile.TemporaryDirectory() as d:
            path = os.path.join(d, "m.safetensors")
            safetensors.save_file(tensors, path)
            with open(path, "rb") as f:
                n = int.from_bytes(f.read(8), "little")
            self.assertEqual(n % 8, 0, "the data starts 8-byte aligned")
            back = safetensors.load_file(path)
            self.assertEqual(set(back), set(tensors))
            for k, v in tensors.items():
                self.assertEqual(back[k].dtype, v.dtype)
                np.testing.assert_array_equal(back[k], v)

    def test_a_truncated_file_is_refused(self):
        with tempfile.TemporaryDirectory() as d:
            path = os.path.join(d, "m.safetensors")
            safetensors.save_file({"w": np.ones(4, np.float32)}, path)
            with open(path, "rb") as f:
                data = f.read()
            with open(path, "wb") as f:
                f.write(data[:-4])
            with self.assertRaisesRegex(ValueError, "data_offsets"):
                safetensors.load_file(path)

    @unittest.skipUnless(HAS_TORCH, NO_TORCH)
    def test_a_state_dict_loads_back_into_torch(self):
        import torch

        net = torch.nn.Conv2d(1, 2, 3)
        with tempfile.TemporaryDirectory() as d:
            path = os.path.join(d, "m.safetensors")
            safetensors.save_file(net.state_dict(), path)
            other = torch.nn.Conv2d(1, 2, 3)
            other.load_state_dict(safetensors.load_file(path, framework="pt"))
            self.assertTrue(torch.equal(other.weight, net.weight))


if __name__ == "__main__":
    unittest.main()
