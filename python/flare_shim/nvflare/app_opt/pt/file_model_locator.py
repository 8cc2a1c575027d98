"""FLARE's PTFileModelLocator, for FedJob: the server's PyTorch models (the PTFileModelPersistor's
saved global and best models) for cross-site evaluation."""

from nvflare.job_config.components import component_class

PTFileModelLocator = component_class("PTFileModelLocator", "nvflare.app_opt.pt.file_model_locator.PTFileModelLocator", {"pt_persistor_id": None})
