"""FLARE's aggregators, for FedJob."""

from nvflare.job_config.components import component_class

InTimeAccumulateWeightedAggregator = component_class(
    "InTimeAccumulateWeightedAggregator",
    "nvflare.app_common.aggregators.intime_accumulate_model_aggregator.InTimeAccumulateWeightedAggregator",
    {"exclude_vars": None, "aggregation_weights": None, "expected_data_kind": "WEIGHT_DIFF", "weigh_by_local_iter": True},
)
