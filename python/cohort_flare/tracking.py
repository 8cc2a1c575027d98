"""FLARE's experiment-tracking writers (nvflare.client.tracking): each call is one `log()` to the
site with the key, the value, the step and the writer's name, as FLARE's writers send them.
Numbers join the current task's result metrics; parameters, tags and text stay notes in the site
log. Cohort keeps no TensorBoard, MLflow or W&B files: the values are in the site log and the
results the server reports.

    from cohort_flare.tracking import SummaryWriter     # FLARE: from nvflare.client.tracking import ...
    SummaryWriter().add_scalar("loss", 0.3, global_step=2)
"""

from enum import Enum


class AnalyticsDataType(Enum):
    """FLARE's nvflare.apis.analytix.AnalyticsDataType (same names and values)."""

    SCALARS = "SCALARS"
    SCALAR = "SCALAR"
    IMAGE = "IMAGE"
    TEXT = "TEXT"
    LOG_RECORD = "LOG_RECORD"
    PARAMETER = "PARAMETER"
    PARAMETERS = "PARAMETERS"
    METRIC = "METRIC"
    METRICS = "METRICS"
    MODEL = "MODEL"
    TAG = "TAG"
    TAGS = "TAGS"
    INIT_DATA = "INIT_DATA"


class LogWriterName(Enum):
    """FLARE's nvflare.app_common.tracking.tracker_types.LogWriterName: which writer sent a value."""

    TORCH_TB = "TORCH_TENSORBOARD"
    MLFLOW = "MLFLOW"
    WANDB = "WEIGHTS_AND_BIASES"


def _log(key, value, data_type, writer, step=None):
    from .api import log  # the channel (msgpack, numpy) is loaded when a value is sent

    log(key, value, data_type, global_step=step, writer=writer)


class SummaryWriter:
    """TensorBoard's SummaryWriter calls (FLARE's SummaryWriter / TBWriter)."""

    def add_scalar(self, tag, scalar, global_step=None, **kwargs):
        _log(tag, scalar, AnalyticsDataType.SCALAR, LogWriterName.TORCH_TB, global_step)

    def add_scalars(self, tag, scalars, global_step=None, **kwargs):
        """One value per entry, named "<tag>/<name>"."""
        _log(tag, scalars, AnalyticsDataType.SCALARS, LogWriterName.TORCH_TB, global_step)


TBWriter = SummaryWriter


class MLflowWriter:
    """mlflow's logging calls (FLARE's MLflowWriter)."""

    def get_writer_name(self):
        return LogWriterName.MLFLOW

    def log_param(self, key, value):
        _log(key, value, AnalyticsDataType.PARAMETER, LogWriterName.MLFLOW)

    def log_params(self, values):
        _log("params", values, AnalyticsDataType.PARAMETERS, LogWriterName.MLFLOW)

    def log_metric(self, key, value, step=None):
        _log(key, value, AnalyticsDataType.METRIC, LogWriterName.MLFLOW, step)

    def log_metrics(self, metrics, step=None):
        _log("metrics", metrics, AnalyticsDataType.METRICS, LogWriterName.MLFLOW, step)

    def log_text(self, text, artifact_file_path):
        _log(artifact_file_path, text, AnalyticsDataType.TEXT, LogWriterName.MLFLOW)

    def set_tag(self, key, tag):
        _log(key, tag, AnalyticsDataType.TAG, LogWriterName.MLFLOW)

    def set_tags(self, tags):
        _log("tags", tags, AnalyticsDataType.TAGS, LogWriterName.MLFLOW)


class WandBWriter:
    """wandb.log (FLARE's WandBWriter): one value per metric name."""

    def log(self, metrics, step=None):
        _log("metrics", metrics, AnalyticsDataType.METRICS, LogWriterName.WANDB, step)
