"""FLARE's model classes, as Cohort's wire format carries them (docs/protocol.md 1.5)."""


class ParamsType:
    """FLARE's ParamsType: FULL weights or a DIFF to add to the received ones."""

    FULL = "FULL"
    DIFF = "DIFF"


class FLModel:
    """FLARE's FLModel: params (name -> numpy array), params_type, metrics, meta, rounds."""

    def __init__(self, params=None, params_type=None, metrics=None, meta=None, current_round=None, total_rounds=None, optimizer_params=None, start_round=None):
        self.params = params if params is not None else {}
        self.params_type = params_type
        self.metrics = metrics
        self.meta = meta if meta is not None else {}
        self.current_round = current_round
        self.total_rounds = total_rounds
        # Accepted for FLARE compatibility; not carried by Cohort's FLModel.
        self.optimizer_params = optimizer_params
        self.start_round = start_round

    def to_state(self):
        params_type = self.params_type
        if params_type is not None and params_type not in (ParamsType.FULL, ParamsType.DIFF):
            params_type = getattr(params_type, "value", str(params_type))
            if params_type not in (ParamsType.FULL, ParamsType.DIFF):
                raise ValueError(f"params_type must be FULL or DIFF, got {self.params_type!r}")
        for name, value in (("current_round", self.current_round), ("total_rounds", self.total_rounds)):
            if value is not None and (not isinstance(value, int) or isinstance(value, bool) or value < 0):
                raise ValueError(f"{name} must be a non-negative int or None, got {value!r}")
        if not isinstance(self.params, dict) or not isinstance(self.meta, dict) or not (self.metrics is None or isinstance(self.metrics, dict)):
            raise ValueError("params and meta must be dicts, metrics a dict or None")
        # Key order as Cohort writes it, so equal models encode to equal bytes.
        return {
            "params": self.params,
            "params_type": params_type,
            "metrics": self.metrics,
            "meta": self.meta,
            "current_round": self.current_round,
            "total_rounds": self.total_rounds,
        }

    @classmethod
    def from_state(cls, state):
        params = state.get("params")
        meta = state.get("meta")
        metrics = state.get("metrics")
        params_type = state.get("params_type")
        if not isinstance(params, dict) or not isinstance(meta, dict) or not (metrics is None or isinstance(metrics, dict)):
            raise ValueError("ERR_WIRE_INVALID_VALUE: FLModel params and meta must be maps, metrics a map or nil")
        if params_type not in (None, ParamsType.FULL, ParamsType.DIFF):
            raise ValueError(f"ERR_WIRE_INVALID_VALUE: FLModel params_type {params_type!r}")
        return cls(params=params, params_type=params_type, metrics=metrics, meta=meta, current_round=state.get("current_round"), total_rounds=state.get("total_rounds"))

    def __repr__(self):
        names = ", ".join(f"{k}{getattr(v, 'shape', '')}" for k, v in list(self.params.items())[:6])
        return f"FLModel(params={{{names}}}, params_type={self.params_type}, metrics={self.metrics}, meta={self.meta}, current_round={self.current_round}, total_rounds={self.total_rounds})"


class DXO:
    """FLARE's DXO (data_kind, data, meta)."""

    def __init__(self, data_kind, data, meta=None):
        self.data_kind = data_kind
        self.data = data
        self.meta = meta if meta is not None else {}


class Shareable:
    """FLARE's Shareable (headers, data)."""

    def __init__(self, headers=None, data=None):
        self.headers = headers if headers is not None else {}
        self.data = data if data is not None else {}
