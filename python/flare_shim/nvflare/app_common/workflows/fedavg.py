"""FLARE's FedAvg controller, for FedJob (Cohort's own FedAvg runs it: docs/flare-compat.md)."""

from nvflare.job_config.components import component_class

FedAvg = component_class(
    "FedAvg",
    "nvflare.app_common.workflows.fedavg.FedAvg",
    {
        "num_clients": 3, "num_rounds": 5, "start_round": 0, "persistor_id": "persistor", "model": None, "task_name": "train",
        "train_timeout": 0, "wait_time_after_min_received": 0, "stop_cond": None, "patience": None, "aggregation_weights": None,
        "exclude_vars": None, "ignore_result_error": None, "persist_every_n_rounds": 1, "save_filename": "FL_global_model.pt",
        "stream_to_disk": False, "task_check_period": 0.5, "allow_empty_global_weights": False, "min_clients": None,
    },
    kind="workflows",
)
