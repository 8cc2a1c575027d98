"""FLARE's ScriptRunner: a Client API training script as the clients' executor. In the job folder it
becomes FLARE's ClientAPIExecutor for every task (`["*"]`) with the script copied into `custom/`;
Cohort runs it as a confined process either way (docs/client-api.md)."""

import os

from nvflare.client.config import ExchangeFormat, TransferType
from nvflare.fuel.utils.constants import FrameworkType
from nvflare.app_common.executors.client_api_executor import ClientAPIExecutor

__all__ = ["FrameworkType", "ScriptRunner"]

_EXCHANGE = {FrameworkType.NUMPY: ExchangeFormat.NUMPY, FrameworkType.PYTORCH: ExchangeFormat.PYTORCH, FrameworkType.RAW: ExchangeFormat.RAW}


class ScriptRunner:
    def __init__(
        self,
        script: str,
        script_args: str = "",
        launch_external_process: bool = False,
        command: str = "python3 -u",
        framework: FrameworkType = FrameworkType.PYTORCH,
        server_expected_format: ExchangeFormat = ExchangeFormat.NUMPY,
        params_transfer_type: TransferType = TransferType.FULL,
        launch_once: bool = True,
        shutdown_timeout: float = 0.0,
        **_ignored,
    ):
        if not isinstance(script, str) or not script:
            raise ValueError("ScriptRunner: script must be the path of a training script")
        self.script = script
        self.script_args = script_args
        self.launch_external_process = launch_external_process
        self.command = command
        self.framework = FrameworkType(framework)
        self.server_expected_format = ExchangeFormat(server_expected_format)
        self.params_transfer_type = TransferType(params_transfer_type)
        self.launch_once = launch_once
        self.shutdown_timeout = shutdown_timeout

    def executor(self) -> ClientAPIExecutor:
        args = {
            "execution_mode": "external_process" if self.launch_external_process else "in_process",
            "task_script_path": os.path.basename(self.script),
            "task_script_args": self.script_args,
            "params_exchange_format": _EXCHANGE.get(self.framework, ExchangeFormat.NUMPY),
            "server_expected_format": self.server_expected_format,
            "params_transfer_type": self.params_transfer_type,
        }
        if self.launch_external_process:
            args.update({"command": self.command, "launch_once": self.launch_once, "shutdown_timeout": self.shutdown_timeout})
        executor = ClientAPIExecutor(**args)
        if executor.args["params_exchange_format"] == ExchangeFormat.PYTORCH:
            # FLARE's default, so FLARE's export leaves it out; Cohort's default is numpy (docs/flare-compat.md).
            executor.always = ("params_exchange_format",)
        return executor

    def resources(self) -> list:
        """Files copied into the app's custom/ folder."""
        return [self.script]
