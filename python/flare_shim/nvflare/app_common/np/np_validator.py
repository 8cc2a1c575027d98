"""FLARE's NPValidator, for FedJob."""

from nvflare.job_config.components import component_class

NPValidator = component_class(
    "NPValidator", "nvflare.app_common.np.np_validator.NPValidator", {"epsilon": 1, "sleep_time": 0, "validate_task_name": "validate"}
)
