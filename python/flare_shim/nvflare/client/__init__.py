"""FLARE's `nvflare.client` (`import nvflare.client as flare`), served by Cohort's cohort_flare:
the same functions and classes, over Cohort's channel to its executor (docs/client-api.md)."""

import cohort_flare

__all__ = [
    "AnalyticsDataType", "FLModel", "ParamsType", "clear", "get_config", "get_job_id", "get_site_name", "get_task_name", "init",
    "is_evaluate", "is_running", "is_submit_model", "is_train", "log", "receive", "send", "shutdown", "system_info",
]


def __getattr__(name):
    # Loaded on first use: job.py files import nvflare.client.config (recipes) without the Client
    # API's wire dependencies (msgpack, numpy).
    if name in __all__:
        return getattr(cohort_flare, name)
    raise AttributeError(f"module 'nvflare.client' has no attribute {name!r}")
