"""FLARE's recipe utilities: experiment tracking and cross-site evaluation added to a recipe's job."""

from nvflare.app_common.np.np_model_locator import NPModelLocator
from nvflare.app_opt.pt.file_model_locator import PTFileModelLocator
from nvflare.app_common.widgets.validation_json_generator import ValidationJsonGenerator
from nvflare.app_common.workflows.cross_site_model_eval import CrossSiteModelEval
from nvflare.app_opt.tracking.tb.tb_receiver import TBAnalyticsReceiver

_TRACKERS = {"tensorboard": lambda config: TBAnalyticsReceiver(events=["fed.analytix_log_stats"], **(config or {}))}


def add_experiment_tracking(recipe, tracking_type: str, tracking_config=None, client_side: bool = False, server_side: bool = True):
    """Adds the server's analytics receiver: TensorBoard event files per site (`tb_events/<site>/`)."""
    make = _TRACKERS.get(tracking_type)
    if make is None:
        raise ValueError(
            f"tracking_type {tracking_type!r}: Cohort writes TensorBoard files ('tensorboard'); MLflow and Weights & Biases receivers "
            "are not supported (every logged value is also in the job's metrics.jsonl, docs/flare-compat.md)"
        )
    if client_side:
        raise ValueError("client_side tracking: Cohort sends every logged value to the server, which records it (client-side receivers are not supported)")
    if server_side:
        recipe.job.to_server(make(tracking_config), id="receiver")


def add_cross_site_evaluation(recipe, model_locator_type=None, model_locator_config=None, submit_model_timeout: int = 600, validation_timeout: int = 6000, participating_clients=None):
    """Cross-site evaluation after the recipe's workflow (the server's models through NPModelLocator, or PTFileModelLocator for PyTorch recipes)."""
    framework = str(getattr(getattr(recipe, "framework", "raw"), "value", getattr(recipe, "framework", "raw")))
    if framework not in ("raw", "numpy", "pytorch") and model_locator_type is None:
        raise ValueError(f"add_cross_site_evaluation: Cohort's shim has the numpy and PyTorch model locators only (recipe framework {framework})")
    job = recipe.job
    if framework == "pytorch":
        # As FLARE adds it for PyTorch recipes: the persistor's saved models.
        locator = PTFileModelLocator(pt_persistor_id="persistor", **(model_locator_config or {}))
    else:
        locator = NPModelLocator(**(model_locator_config or {}))
    locator_id = job.to_server(locator)
    job.to_server(ValidationJsonGenerator())
    args = {"model_locator_id": locator_id, "submit_model_timeout": submit_model_timeout, "validation_timeout": validation_timeout}
    if participating_clients:
        args["participating_clients"] = participating_clients
    job.to_server(CrossSiteModelEval(**args))
