"""FLARE's ScatterAndGather controller, for FedJob."""

from nvflare.job_config.components import component_class

ScatterAndGather = component_class(
    "ScatterAndGather",
    "nvflare.app_common.workflows.scatter_and_gather.ScatterAndGather",
    {
        "min_clients": 1000, "num_rounds": 5, "start_round": 0, "wait_time_after_min_received": 10, "aggregator_id": "aggregator",
        "persistor_id": "persistor", "shareable_generator_id": "shareable_generator", "train_task_name": "train", "train_timeout": 0,
        "ignore_result_error": False, "allow_empty_global_weights": False, "task_check_period": 0.5, "persist_every_n_rounds": 1,
        "snapshot_every_n_rounds": 1,
    },
    kind="workflows",
)
