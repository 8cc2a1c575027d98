"""FLARE's NPModelLocator, for FedJob: a str `model_name` is kept as {"server": name}, as FLARE keeps it."""

from nvflare.job_config.components import Component


class NPModelLocator(Component):
    PATH = "nvflare.app_common.np.np_model_locator.NPModelLocator"
    DEFAULTS = {"model_dir": "models", "model_name": "server.npy"}

    def __init__(self, **kwargs):
        # FLARE keeps even the default as a dict, so the exported config always names it.
        kwargs.setdefault("model_name", self.DEFAULTS["model_name"])
        if isinstance(kwargs["model_name"], str):
            kwargs["model_name"] = {"server": kwargs["model_name"]}
        super().__init__(**kwargs)
