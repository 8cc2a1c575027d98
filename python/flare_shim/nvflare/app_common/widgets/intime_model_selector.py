"""FLARE's IntimeModelSelector, for FedJob."""

from nvflare.job_config.components import component_class

IntimeModelSelector = component_class(
    "IntimeModelSelector",
    "nvflare.app_common.widgets.intime_model_selector.IntimeModelSelector",
    {"weigh_by_local_iter": False, "aggregation_weights": None, "validation_metric_name": "val_accuracy", "key_metric": "val_accuracy", "negate_key_metric": False},
)
