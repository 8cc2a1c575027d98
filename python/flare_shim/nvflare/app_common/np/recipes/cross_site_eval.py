"""FLARE's NumpyCrossSiteEvalRecipe: cross-site evaluation of server models (NPModelLocator) without
training. Cohort reads the server's models only inside its run folder, so an absolute `model_dir`
(FLARE's pre-trained mode) is refused when the job is loaded (docs/flare-compat.md)."""

from nvflare.app_common.np.np_model_locator import NPModelLocator
from nvflare.app_common.np.np_validator import NPValidator
from nvflare.app_common.widgets.validation_json_generator import ValidationJsonGenerator
from nvflare.app_common.workflows.cross_site_model_eval import CrossSiteModelEval
from nvflare.fuel.utils.constants import FrameworkType
from nvflare.job_config.api import FedJob
from nvflare.recipe.spec import Recipe


class NumpyCrossSiteEvalRecipe(Recipe):
    def __init__(self, *, name: str = "cross_site_eval", min_clients: int, model_dir: str = "models", model_name="server.npy", submit_model_timeout: int = 600, validation_timeout: int = 6000):
        self.framework = FrameworkType.RAW
        job = FedJob(name=name, min_clients=min_clients)
        locator = job.to_server(NPModelLocator(model_dir=model_dir, model_name=model_name), id="model_locator")
        job.to_server(ValidationJsonGenerator(), id="json_generator")
        job.to_server(CrossSiteModelEval(model_locator_id=locator, submit_model_timeout=submit_model_timeout, validation_timeout=validation_timeout, submit_model_task_name=""))
        job.to_clients(NPValidator(), tasks=["validate"])
        super().__init__(job)
