"""Cohort's Client API for Python, with the names of NVIDIA FLARE's `nvflare.client`:

    import cohort_flare as flare          # or, unchanged FLARE scripts: import nvflare.client as flare

    flare.init()
    while flare.is_running():
        model = flare.receive()           # FLModel: params (numpy arrays), current_round, ...
        if flare.is_train():
            ...train...
            flare.send(flare.FLModel(params=new_params, meta={"NUM_STEPS_CURRENT_ROUND": n}))
        elif flare.is_evaluate():
            flare.send(flare.FLModel(metrics={"accuracy": acc}))

The script is started by Cohort's ExternalProcessExecutor, which passes the channel as file
descriptor COHORT_CLIENT_API_FD (docs/protocol.md section 3). The functions live in
`cohort_flare.api`, the wire format in `cohort_flare.wire` (msgpack, numpy); they are loaded on
first use, so that tools of this package that need neither (`python3 -m cohort_flare.job_manifest`)
run with the standard library alone.
"""

import importlib
import importlib.util

from .model import DXO, FLModel, ParamsType, Shareable

# name -> the submodule that defines it (loaded on first access: PEP 562). Other names are looked up
# in `api` (its constants and helpers), except submodules.
_LAZY = {
    "WireError": "wire",
    "encode": "wire",
    "decode": "wire",
    "AnalyticsDataType": "tracking",
    "LogWriterName": "tracking",
    "SummaryWriter": "tracking",
    "MLflowWriter": "tracking",
    "WandBWriter": "tracking",
    **dict.fromkeys(
        (
            "init", "receive", "send", "is_running", "is_train", "is_evaluate", "is_submit_model",
            "get_task_name", "get_site_name", "get_job_id", "get_config", "system_info", "log", "clear", "shutdown",
        ),
        "api",
    ),
}

__all__ = ["FLModel", "ParamsType", "DXO", "Shareable", *_LAZY]


def __getattr__(name):
    module = _LAZY.get(name)
    if module is None:
        # `from cohort_flare import job_manifest` asks for the submodule as an attribute first: it
        # must not load the API (msgpack, numpy).
        if name.startswith("__") or importlib.util.find_spec(f"{__name__}.{name}") is not None:
            raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
        module = "api"
    return getattr(importlib.import_module(f".{module}", __name__), name)


def __dir__():
    return sorted(set(globals()) | set(_LAZY))
