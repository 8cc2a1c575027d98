"""Cohort's stand-in for the parts of NVIDIA FLARE that Client API training scripts import
(python/flare_shim/README.md). Not FLARE: Cohort's ExternalProcessExecutor puts it on the script's
PYTHONPATH, and every name comes from `cohort_flare`."""


def __getattr__(name):
    # `from nvflare import FedJob` (FLARE's top-level export), loaded only when asked for.
    if name == "FedJob":
        from nvflare.job_config.api import FedJob

        return FedJob
    raise AttributeError(name)
