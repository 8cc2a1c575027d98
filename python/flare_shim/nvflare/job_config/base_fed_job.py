"""FLARE's BaseFedJob: a FedJob with the server widgets FLARE's recipes add (ValidationJsonGenerator
as `json_generator`, IntimeModelSelector as `model_selector`) and the clients' ConvertToFedEvent
(`event_to_fed`), plus an optional analytics receiver."""

from nvflare.app_common.widgets.convert_to_fed_event import ConvertToFedEvent
from nvflare.app_common.widgets.intime_model_selector import IntimeModelSelector
from nvflare.app_common.widgets.validation_json_generator import ValidationJsonGenerator
from nvflare.job_config.api import FedJob


class BaseFedJob(FedJob):
    def __init__(self, name: str = "fed_job", min_clients: int = 1, mandatory_clients=None, key_metric: str = "accuracy", analytics_receiver=None, model_selector=None, convert_to_fed_event=None):
        super().__init__(name=name, min_clients=min_clients, mandatory_clients=mandatory_clients)
        self.to_server(ValidationJsonGenerator(), id="json_generator")
        self.to_server(model_selector or IntimeModelSelector(key_metric=key_metric, aggregation_weights={}), id="model_selector")
        if analytics_receiver is not None:
            self.to_server(analytics_receiver, id="receiver")
        self.to_clients(convert_to_fed_event or ConvertToFedEvent(events_to_convert=["analytix_log_stats"]), id="event_to_fed")
