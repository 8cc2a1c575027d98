"""FLARE's ConvertToFedEvent, for FedJob."""

from nvflare.job_config.components import component_class

ConvertToFedEvent = component_class(
    "ConvertToFedEvent",
    "nvflare.app_common.widgets.convert_to_fed_event.ConvertToFedEvent",
    {"events_to_convert": None, "fed_event_prefix": "fed."},
)
