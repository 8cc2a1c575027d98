"""FLARE's CrossSiteModelEval controller, for FedJob."""

from nvflare.job_config.components import component_class

CrossSiteModelEval = component_class(
    "CrossSiteModelEval",
    "nvflare.app_common.workflows.cross_site_model_eval.CrossSiteModelEval",
    {
        "task_check_period": 0.5, "cross_val_dir": "cross_site_val", "submit_model_timeout": 600, "validation_timeout": 6000,
        "model_locator_id": "", "formatter_id": "", "submit_model_task_name": "submit_model", "validation_task_name": "validate",
        "cleanup_models": False, "participating_clients": None, "wait_for_clients_timeout": 300,
    },
    kind="workflows",
)
