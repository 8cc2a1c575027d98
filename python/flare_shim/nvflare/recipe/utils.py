"""FLARE's recipe utilities: experiment tracking and cross-site evaluation added to a recipe's job."""

from nvflare.app_common.np.np_model_locator import NPModelLocator
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
    """Cross-site evaluation after the recipe's workflow (numpy recipes: the server's models through NPModelLocator)."""
    framework = getattr(recipe, "framework", "raw")
    if str(getattr(framework, "value", framework)) not in ("raw", "numpy") and model_locator_type is None:
        raise ValueError(f"add_cross_site_evaluation: Cohort's shim has the numpy model locator only (recipe framework {framework})")
    job = recipe.job
    locator_id = job.to_server(NPModelLocator(**(model_locator_config or {})))
    job.to_server(ValidationJsonGenerator())
    args = {"model_locator_id": locator_id, "submit_model_timeout": submit_model_timeout, "validation_timeout": validation_timeout}
    if participating_clients:
        args["participating_clients"] = participating_clients
    job.to_server(CrossSiteModelEval(**args))
