"""FLARE's CyclicRecipe: the model goes from site to site (CyclicController). Cohort's shim takes a
numpy model (array or nested list) directly (NPModelPersistor); FLARE's base recipe wants a model
wrapper from a framework-specific subclass."""

from nvflare.app_common.np.np_model_persistor import NPModelPersistor
from nvflare.app_common.shareablegenerators import FullModelShareableGenerator
from nvflare.app_common.workflows.cyclic_ctl import CyclicController
from nvflare.client.config import ExchangeFormat, TransferType
from nvflare.fuel.utils.constants import FrameworkType
from nvflare.job_config.api import FedJob
from nvflare.job_config.script_runner import ScriptRunner

from .spec import Recipe


class CyclicRecipe(Recipe):
    def __init__(self, *, name: str = "cyclic", model=None, initial_ckpt=None, num_rounds: int = 2, min_clients: int = 2, train_script: str, train_args: str = "", launch_external_process: bool = False, command: str = "python3 -u", framework: FrameworkType = FrameworkType.NUMPY, server_expected_format: ExchangeFormat = ExchangeFormat.NUMPY, params_transfer_type: TransferType = TransferType.FULL, server_memory_gc_rounds: int = 1):
        if min_clients < 2:
            raise ValueError(f"min_clients must be at least 2 (got {min_clients})")
        if model is None:
            raise ValueError("Must provide a model (initial_ckpt is not supported by Cohort's shim: the server's files stay in its run folder)")
        self.framework = FrameworkType(framework)
        job = FedJob(name=name, min_clients=min_clients)
        job.to_server(NPModelPersistor(model=model), id="persistor")
        job.to(CyclicController(num_rounds=num_rounds, task_assignment_timeout=10, persistor_id="persistor", shareable_generator_id="shareable_generator", task_name="train", task_check_period=0.5), "server")
        job.to_server(FullModelShareableGenerator(), id="shareable_generator")
        job.to_clients(ScriptRunner(script=train_script, script_args=train_args, launch_external_process=launch_external_process, command=command, framework=framework, server_expected_format=server_expected_format, params_transfer_type=params_transfer_type))
        super().__init__(job)
