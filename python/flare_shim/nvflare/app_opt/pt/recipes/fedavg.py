"""FLARE's PyTorch FedAvgRecipe (`nvflare.app_opt.pt.recipes.fedavg`), as FLARE builds it: the
FedAvg controller, a PTFileModelPersistor with the initial model, a ScriptRunner with framework
PYTORCH (scripts get and send torch state dicts) at every client, on a BaseFedJob. The initial
model's weights are exported as a safetensors file in the job: Cohort's server runs no Python."""

from nvflare.app_common.workflows.fedavg import FedAvg
from nvflare.app_opt.pt.file_model_persistor import PTFileModelPersistor
from nvflare.client.config import ExchangeFormat, TransferType
from nvflare.fuel.utils.constants import FrameworkType
from nvflare.job_config.base_fed_job import BaseFedJob
from nvflare.job_config.script_runner import ScriptRunner
from nvflare.recipe.spec import Recipe


class FedAvgRecipe(Recipe):
    def __init__(
        self,
        *,
        name: str = "fedavg",
        initial_model=None,
        model=None,
        min_clients: int,
        num_rounds: int = 2,
        train_script: str,
        train_args: str = "",
        aggregator=None,
        aggregator_data_kind=None,
        launch_external_process: bool = False,
        command: str = "python3 -u",
        server_expected_format: ExchangeFormat = ExchangeFormat.NUMPY,
        params_transfer_type: TransferType = TransferType.FULL,
        model_persistor=None,
        model_locator=None,
        analytics_receiver=None,
        per_site_config=None,
        launch_once: bool = True,
        shutdown_timeout: float = 0.0,
        key_metric: str = "accuracy",
        initial_ckpt=None,
    ):
        for arg, value, why in (
            ("aggregator", aggregator, "a custom aggregator object is not supported (docs/flare-compat.md); FedAvg's weighted mean is used"),
            ("model_locator", model_locator, "PyTorch model locators are not supported yet"),
            ("per_site_config", per_site_config, "per-site script settings are not supported yet: use FedJob with ScriptRunner per site"),
            ("initial_ckpt", initial_ckpt, "Cohort never unpickles .pt checkpoints; pass the model (nn.Module) as initial_model="),
        ):
            if value is not None:
                raise ValueError(f"FedAvgRecipe {arg}: {why}")
        self.framework = FrameworkType.PYTORCH
        self.initial_model = initial_model if initial_model is not None else model
        job = BaseFedJob(name=name, min_clients=min_clients, analytics_receiver=analytics_receiver, key_metric=key_metric)
        job.to_server(FedAvg(num_clients=min_clients, num_rounds=num_rounds, aggregation_weights={}))
        if model_persistor is not None:
            job.to_server(model_persistor, id="persistor")
        elif self.initial_model is not None:
            job.to_server(PTFileModelPersistor(model=self.initial_model), id="persistor")
        job.to_clients(
            ScriptRunner(
                script=train_script, script_args=train_args, launch_external_process=launch_external_process, command=command, framework=FrameworkType.PYTORCH,
                server_expected_format=server_expected_format, params_transfer_type=params_transfer_type, launch_once=launch_once, shutdown_timeout=shutdown_timeout,
            )
        )
        super().__init__(job)
