"""FLARE's shareable generators, for FedJob."""

from nvflare.job_config.components import component_class

FullModelShareableGenerator = component_class(
    "FullModelShareableGenerator", "nvflare.app_common.shareablegenerators.full_model_shareable_generator.FullModelShareableGenerator", {}
)
