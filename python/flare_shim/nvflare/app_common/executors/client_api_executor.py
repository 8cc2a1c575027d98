"""FLARE's unified ClientAPIExecutor, for FedJob (Cohort runs the script confined: docs/client-api.md)."""

from nvflare.job_config.components import component_class

ClientAPIExecutor = component_class(
    "ClientAPIExecutor",
    "nvflare.app_common.executors.client_api_executor.ClientAPIExecutor",
    {
        "execution_mode": None, "command": None, "task_script_path": None, "task_script_args": "", "launch_once": True,
        "shutdown_timeout": 0.0, "params_exchange_format": "pytorch", "server_expected_format": "numpy", "params_transfer_type": "FULL",
        "train_with_evaluation": False, "train_task_name": "train", "evaluate_task_name": "validate", "submit_model_task_name": "submit_model",
    },
)
