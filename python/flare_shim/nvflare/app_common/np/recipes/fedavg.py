"""FLARE's NumpyFedAvgRecipe, as FLARE's current recipe builds it: the FedAvg controller, an
NPModelPersistor with the initial model, a ScriptRunner (numpy exchange) at every client, on a
BaseFedJob (its widgets)."""

from nvflare.app_common.np.np_model_persistor import NPModelPersistor
from nvflare.app_common.workflows.fedavg import FedAvg
from nvflare.client.config import ExchangeFormat, TransferType
from nvflare.fuel.utils.constants import FrameworkType
from nvflare.job_config.base_fed_job import BaseFedJob
from nvflare.job_config.script_runner import ScriptRunner
from nvflare.recipe.spec import Recipe


class NumpyFedAvgRecipe(Recipe):
    def __init__(self, *, name: str = "fedavg", model=None, initial_model=None, initial_ckpt=None, min_clients: int, num_rounds: int = 2, train_script: str, train_args: str = "", launch_external_process: bool = False, command: str = "python3 -u", server_expected_format: ExchangeFormat = ExchangeFormat.NUMPY, params_transfer_type: TransferType = TransferType.FULL, analytics_receiver=None, launch_once: bool = True, shutdown_timeout: float = 0.0, key_metric: str = "accuracy", aggregator=None, aggregator_data_kind=None):
        if initial_ckpt is not None:
            raise ValueError("initial_ckpt: Cohort's server reads models only from its run folder; pass the initial weights as model=")
        if aggregator is not None:
            raise ValueError("aggregator: a custom aggregator object is not supported (docs/flare-compat.md); FedAvg's weighted mean is used")
        self.framework = FrameworkType.RAW
        model = model if model is not None else initial_model
        job = BaseFedJob(name=name, min_clients=min_clients, analytics_receiver=analytics_receiver, key_metric=key_metric)
        job.to_server(FedAvg(num_clients=min_clients, num_rounds=num_rounds, aggregation_weights={}))
        if model is not None:
            job.to_server(NPModelPersistor(model=model), id="persistor")
        job.to_clients(
            ScriptRunner(
                script=train_script, script_args=train_args, launch_external_process=launch_external_process, command=command, framework=FrameworkType.NUMPY,
                server_expected_format=server_expected_format, params_transfer_type=params_transfer_type, launch_once=launch_once, shutdown_timeout=shutdown_timeout,
            )
        )
        super().__init__(job)
