"""FLARE's `nvflare.client` (`import nvflare.client as flare`), served by Cohort's cohort_flare:
the same functions and classes, over Cohort's channel to its executor (docs/client-api.md)."""

from cohort_flare import (
    AnalyticsDataType,
    FLModel,
    ParamsType,
    clear,
    get_config,
    get_job_id,
    get_site_name,
    get_task_name,
    init,
    is_evaluate,
    is_running,
    is_submit_model,
    is_train,
    log,
    receive,
    send,
    shutdown,
    system_info,
)

__all__ = [
    "AnalyticsDataType", "FLModel", "ParamsType", "clear", "get_config", "get_job_id", "get_site_name", "get_task_name", "init",
    "is_evaluate", "is_running", "is_submit_model", "is_train", "log", "receive", "send", "shutdown", "system_info",
]
