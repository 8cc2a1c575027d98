"""FLARE's `nvflare.app_common.np.constants`: the name of the one array of FLARE's numpy models."""


class NPConstants:
    NUMPY_KEY = "numpy_key"
