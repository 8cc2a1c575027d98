"""FLARE's TBAnalyticsReceiver, for FedJob."""

from nvflare.job_config.components import component_class

TBAnalyticsReceiver = component_class(
    "TBAnalyticsReceiver", "nvflare.app_opt.tracking.tb.tb_receiver.TBAnalyticsReceiver", {"tb_folder": "tb_events", "events": None}
)
