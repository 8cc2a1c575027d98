"""FLARE's ValidationJsonGenerator, for FedJob."""

from nvflare.job_config.components import component_class

ValidationJsonGenerator = component_class(
    "ValidationJsonGenerator",
    "nvflare.app_common.widgets.validation_json_generator.ValidationJsonGenerator",
    {"results_dir": "cross_site_val", "json_file_name": "cross_val_results.json"},
)
