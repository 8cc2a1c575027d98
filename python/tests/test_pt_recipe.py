"""The shim's PyTorch FedAvgRecipe (nvflare.app_opt.pt.recipes.fedavg): what it refuses, and the job
folder it exports (the initial weights as safetensors, the model's source, the pytorch exchange).
Tests building a model need torch (Debian: python3-torch) and skip without it."""

import importlib
import importlib.util
import json
import os
import tempfile
import unittest

import numpy as np

from tests.shim_path import setUpModule, tearDownModule  # noqa: F401 (unittest calls them)

HAS_TORCH = importlib.util.find_spec("torch") is not None
NO_TORCH = "torch is not installed (Debian: apt-get install python3-torch)"


def recipe(**kwargs):
    FedAvgRecipe = importlib.import_module("nvflare.app_opt.pt.recipes.fedavg").FedAvgRecipe
    return FedAvgRecipe(**{"name": "pt", "min_clients": 2, "num_rounds": 2, "train_script": __file__, **kwargs})


class Refusals(unittest.TestCase):
    def test_pt_fedavg_recipe_refuses_what_cohort_cannot_run_with_the_reason(self):
        for arg, value, reason in (
            ("initial_ckpt", os.path.join(tempfile.gettempdir(), "init.pt"), "never unpickles"),  # a server-side (absolute) path
            ("aggregator", object(), "custom aggregator"),
            ("model_locator", object(), "locators are not supported"),
            ("per_site_config", {"site-1": {}}, "per-site"),
        ):
            with self.assertRaisesRegex(ValueError, reason, msg=arg):
                recipe(**{arg: value})


@unittest.skipUnless(HAS_TORCH, NO_TORCH)
class Export(unittest.TestCase):
    def test_export_writes_the_weights_the_source_and_the_pytorch_exchange(self):
        import torch

        from cohort_flare.safetensors import load_file

        net = torch.nn.Sequential(torch.nn.Linear(3, 2))
        with tempfile.TemporaryDirectory() as d:
            job = recipe(initial_model=net).export(d)
            server = json.load(open(os.path.join(job, "app", "config", "config_fed_server.json")))
            persistor = next(c for c in server["components"] if c["id"] == "persistor")
            self.assertEqual(persistor["path"], "nvflare.app_opt.pt.file_model_persistor.PTFileModelPersistor")
            self.assertEqual(persistor["args"], {"model": {"path": "torch.nn.modules.container.Sequential"}, "initial_weights_file": "custom/initial_model.safetensors"})
            weights = load_file(os.path.join(job, "app", persistor["args"]["initial_weights_file"]))
            np.testing.assert_array_equal(weights["0.weight"], net[0].weight.detach().numpy())
            client = json.load(open(os.path.join(job, "app", "config", "config_fed_client.json")))
            self.assertEqual(client["executors"][0]["executor"]["args"]["params_exchange_format"], "pytorch")
            self.assertEqual(sorted(os.listdir(os.path.join(job, "app", "custom"))), ["initial_model.safetensors", os.path.basename(__file__)], "torch's own source is not copied")

    def test_cross_site_evaluation_of_a_pytorch_recipe_uses_the_pt_locator(self):
        import torch

        add_cross_site_evaluation = importlib.import_module("nvflare.recipe.utils").add_cross_site_evaluation
        r = recipe(initial_model=torch.nn.Linear(2, 1))
        add_cross_site_evaluation(r)
        with tempfile.TemporaryDirectory() as d:
            server = json.load(open(os.path.join(r.export(d), "app", "config", "config_fed_server.json")))
        locator = next(c for c in server["components"] if c["path"].endswith("PTFileModelLocator"))
        self.assertEqual(locator["args"], {"pt_persistor_id": "persistor"})
        cse = next(w for w in server["workflows"] if w["path"].endswith("CrossSiteModelEval"))
        self.assertEqual(cse["args"]["model_locator_id"], locator["id"])

    def test_an_initial_model_with_integer_buffers_is_refused_at_export(self):
        import torch

        with tempfile.TemporaryDirectory() as d:
            with self.assertRaisesRegex(ValueError, "num_batches_tracked"):
                recipe(initial_model=torch.nn.BatchNorm1d(3)).export(d)


if __name__ == "__main__":
    unittest.main()
