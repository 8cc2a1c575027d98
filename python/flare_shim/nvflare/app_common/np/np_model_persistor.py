"""FLARE's NPModelPersistor, for FedJob (`model` or `initial_model`: a nested list or a numpy array)."""

from nvflare.job_config.components import component_class

NPModelPersistor = component_class(
    "NPModelPersistor",
    "nvflare.app_common.np.np_model_persistor.NPModelPersistor",
    {"model_dir": "models", "model_name": "server.npy", "initial_model": None, "model": None},
)
