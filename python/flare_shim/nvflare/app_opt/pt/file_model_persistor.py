"""FLARE's PTFileModelPersistor, for FedJob. Cohort's server never runs Python, so it cannot build
`model` (an nn.Module or a class path) nor unpickle a .pt checkpoint: the initial weights travel as
a safetensors file in the app folder (`initial_weights_file`, Cohort's argument), which `model=` an
nn.Module writes at export (docs/flare-compat.md)."""

import inspect
import os

from nvflare.job_config.components import Component

#: Where the export puts the initial weights, inside the app folder.
INITIAL_WEIGHTS_FILE = "custom/initial_model.safetensors"


def _class_path(model):
    cls = type(model)
    return f"{cls.__module__}.{cls.__qualname__}"


class PTFileModelPersistor(Component):
    PATH = "nvflare.app_opt.pt.file_model_persistor.PTFileModelPersistor"
    DEFAULTS = {
        "exclude_vars": None,
        "model": None,
        "global_model_file_name": "FL_global_model.pt",
        "best_global_model_file_name": "best_FL_global_model.pt",
        "source_ckpt_file_full_name": None,
        "filter_id": None,
        "load_weights_only": True,
        "allow_numpy_conversion": True,
        "initial_weights_file": None,
    }

    def __init__(self, **kwargs):
        model = kwargs.get("model")
        self.module = None
        if model is not None and hasattr(model, "state_dict"):
            # An nn.Module: its weights are written at export; the config names its class, as FLARE's does.
            self.module = model
            kwargs = {**kwargs, "model": {"path": _class_path(model)}, "initial_weights_file": kwargs.get("initial_weights_file") or INITIAL_WEIGHTS_FILE}
        super().__init__(**kwargs)

    def resources(self):
        """The model's own source file (clients import it, as FLARE copies it), unless it is a library's."""
        if self.module is None:
            return []
        try:
            source = inspect.getsourcefile(type(self.module))
        except TypeError:
            return []
        if not source or type(self.module).__module__.split(".")[0] in ("torch", "torchvision"):
            return []
        return [source]

    def write_files(self, app_dir):
        """Writes the initial weights (safetensors, without the safetensors package) into the app folder."""
        if self.module is None:
            return
        from cohort_flare.safetensors import save_file

        state = self.module.state_dict()
        integer = [k for k, v in state.items() if not v.is_floating_point()]
        if integer:
            raise ValueError(
                f"PTFileModelPersistor: {', '.join(integer)} are not floating-point tensors; Cohort's server keeps float32 models, "
                "so leave integer buffers (BatchNorm's num_batches_tracked: track_running_stats or a model without them) out of the model"
            )
        path = os.path.join(app_dir, self.args["initial_weights_file"])
        os.makedirs(os.path.dirname(path), exist_ok=True)
        save_file({k: v.float() for k, v in state.items()}, path)
