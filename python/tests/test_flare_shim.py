"""The `nvflare` shim (python/flare_shim): FLARE's import paths serve cohort_flare's objects; the
tracking writers send what FLARE's send; the shim is importable only where Cohort's executor puts
it; and cohort_flare's tools that need neither msgpack nor numpy run without them."""

import importlib
import os
import subprocess
import sys
import unittest

import cohort_flare
from tests.test_api import ChannelCase

HERE = os.path.dirname(os.path.abspath(__file__))
PY_DIR = os.path.dirname(HERE)
from tests.shim_path import SHIM_DIR, setUpModule, tearDownModule  # noqa: E402,F401 (unittest calls them)


class ImportPaths(unittest.TestCase):
    def test_nvflare_client_is_cohort_flare(self):
        flare = importlib.import_module("nvflare.client")
        self.assertTrue(importlib.import_module("nvflare").__file__.startswith(SHIM_DIR))
        for name in flare.__all__:
            self.assertIs(getattr(flare, name), getattr(cohort_flare, name), name)
        for name in ("init", "receive", "send", "log", "is_running", "is_train", "is_evaluate", "is_submit_model", "system_info",
                     "get_site_name", "get_job_id", "get_task_name", "get_config", "FLModel", "ParamsType"):
            self.assertIn(name, flare.__all__)
        self.assertIs(importlib.import_module("nvflare.client.api").send, cohort_flare.send)

    def test_flare_modules_of_the_hello_world_scripts(self):
        from nvflare.apis.analytix import AnalyticsDataType
        from nvflare.app_common.abstract.fl_model import FLModel, ParamsType
        from nvflare.app_common.np.constants import NPConstants
        from nvflare.app_common.tracking.tracker_types import LogWriterName
        from nvflare.client.tracking import MLflowWriter, SummaryWriter, WandBWriter

        self.assertEqual(NPConstants.NUMPY_KEY, "numpy_key", "FLARE's nvflare/app_common/np/constants.py")
        self.assertIs(FLModel, cohort_flare.FLModel)
        self.assertEqual((ParamsType.FULL, ParamsType.DIFF), ("FULL", "DIFF"))
        self.assertEqual(AnalyticsDataType.SCALAR.value, "SCALAR")
        self.assertEqual(LogWriterName.TORCH_TB.value, "TORCH_TENSORBOARD")
        self.assertIs(SummaryWriter, cohort_flare.SummaryWriter)
        self.assertTrue(callable(MLflowWriter().log_metric) and callable(WandBWriter().log))


class Tracking(ChannelCase):
    def logs(self, n):
        return [self.exe.read() for _ in range(n)]

    def test_summary_writer(self):
        from nvflare.client.tracking import SummaryWriter

        w = SummaryWriter()
        w.add_scalar(tag="weight_mean", scalar=2.5, global_step=3)
        w.add_scalars("loss", {"train": 0.5, "val": 0.75}, global_step=4)
        tb = {"writer": "TORCH_TENSORBOARD"}
        self.assertEqual(self.logs(3), [
            {"type": "log", "key": "weight_mean", "value": 2.5, "step": 3, **tb},
            {"type": "log", "key": "loss/train", "value": 0.5, "step": 4, **tb},
            {"type": "log", "key": "loss/val", "value": 0.75, "step": 4, **tb},
        ])

    def test_mlflow_and_wandb_writers(self):
        from nvflare.client.tracking import MLflowWriter, WandBWriter

        m = MLflowWriter()
        m.log_metric("acc", 0.5, step=1)
        m.log_metrics({"acc": 0.625, "loss": 1}, step=2)
        m.log_param("lr", 0.01)
        m.set_tags({"model": "cnn"})
        WandBWriter().log({"acc": 0.75}, step=5)
        ml = {"writer": "MLFLOW"}
        self.assertEqual(self.logs(6), [
            {"type": "log", "key": "acc", "value": 0.5, "step": 1, **ml},
            {"type": "log", "key": "acc", "value": 0.625, "step": 2, **ml},
            {"type": "log", "key": "loss", "value": 1, "step": 2, **ml},
            {"type": "log", "key": "lr", "value": "0.01", **ml},
            {"type": "log", "key": "model", "value": "cnn", **ml},
            {"type": "log", "key": "acc", "value": 0.75, "step": 5, "writer": "WEIGHTS_AND_BIASES"},
        ])

    def test_log_refuses_keys_the_site_would_refuse(self):
        with self.assertRaisesRegex(ValueError, "1 to 128 characters"):
            cohort_flare.log("k" * 129, 1.0)
        cohort_flare.log("big", 2**60, writer="not a writer name!")
        self.assertEqual(self.exe.read(), {"type": "log", "key": "big", "value": float(2**60)})


class Packaging(unittest.TestCase):
    def test_the_shim_folder_is_not_a_package_root(self):
        for name in ("__init__.py", "setup.py", "setup.cfg", "pyproject.toml"):
            self.assertFalse(os.path.exists(os.path.join(SHIM_DIR, name)), name)
            self.assertFalse(os.path.exists(os.path.join(PY_DIR, name)), name)

    def test_nvflare_is_not_importable_from_cohorts_package_root(self):
        code = "import importlib.util as u, sys; s = u.find_spec('nvflare'); print(s.origin if s else 'none')"
        r = subprocess.run([sys.executable, "-c", code], env={"PYTHONPATH": PY_DIR, "PATH": "/usr/bin:/bin"}, capture_output=True, text=True, check=True)
        origin = r.stdout.strip()
        self.assertFalse(origin.startswith(PY_DIR), f"nvflare resolved to {origin}")

    def test_job_manifest_runs_without_msgpack_and_numpy(self):
        code = ("import runpy, sys; sys.modules['msgpack'] = None; sys.modules['numpy'] = None; "
                "from cohort_flare import FLModel, job_manifest; sys.argv = ['job_manifest', '--help']; "
                "runpy.run_module('cohort_flare.job_manifest', run_name='__main__')")
        r = subprocess.run([sys.executable, "-c", code], env={"PYTHONPATH": PY_DIR, "PATH": "/usr/bin:/bin"}, capture_output=True, text=True)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("job_manifest", r.stdout)
        self.assertNotIn("msgpack", r.stderr)


if __name__ == "__main__":
    unittest.main()
