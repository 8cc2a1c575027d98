"""FLARE's CyclicController, for FedJob."""

from nvflare.job_config.components import component_class

CyclicController = component_class(
    "CyclicController",
    "nvflare.app_common.workflows.cyclic_ctl.CyclicController",
    {
        "num_rounds": 5, "task_assignment_timeout": 10, "persistor_id": "persistor", "shareable_generator_id": "shareable_generator",
        "task_name": "train", "task_check_period": 0.5, "persist_every_n_rounds": 1, "snapshot_every_n_rounds": 1, "order": "fixed",
        "allow_early_termination": False,
    },
    kind="workflows",
)
