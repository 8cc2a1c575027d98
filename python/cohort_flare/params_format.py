"""The executor's params exchange format (FLARE's `params_exchange_format`): the wire always carries
numpy arrays; with "pytorch" a script receives torch tensors and may send them back. torch is
imported only when the format is pytorch, so numpy scripts run where torch is not installed."""

import importlib.util
import os

import numpy as np

#: Set by Cohort's ExternalProcessExecutor when it launches the script ("numpy" or "pytorch").
FORMAT_ENV = "COHORT_PARAMS_EXCHANGE_FORMAT"
NUMPY = "numpy"
PYTORCH = "pytorch"


#: FLARE's executors with no params_exchange_format: FLARE's default (pytorch) where torch is installed.
AUTO = "auto"


def exchange_format():
    """The format the executor asked for ("numpy" when it asked for none); "auto" is "pytorch" where
    this Python has torch (a script without torch cannot use tensors) and "numpy" elsewhere."""
    value = os.environ.get(FORMAT_ENV, NUMPY).strip().lower() or NUMPY
    if value == AUTO:
        return PYTORCH if importlib.util.find_spec("torch") is not None else NUMPY
    if value not in (NUMPY, PYTORCH):
        raise RuntimeError(f"{FORMAT_ENV}={value!r}: Cohort's Client API exchanges params as 'numpy' or 'pytorch'")
    return value


def _torch():
    try:
        import torch
    except ImportError as e:
        raise RuntimeError(
            'params_exchange_format "pytorch" needs torch in the script\'s Python (Debian: apt-get install python3-torch)'
        ) from e
    return torch


def to_torch(params):
    """{name: numpy array} as {name: torch tensor} (copies: wire arrays may be read-only views)."""
    torch = _torch()
    out = {}
    for name, value in params.items():
        if isinstance(value, np.ndarray):
            out[name] = torch.from_numpy(np.array(value, copy=True))
        else:
            out[name] = value
    return out


def _is_torch_tensor(value):
    # Checked by module name so a numpy-only script never imports torch.
    return type(value).__module__.split(".")[0] == "torch" and hasattr(value, "detach")


def to_numpy(params):
    """{name: numpy array or torch tensor} with every tensor as a numpy array (detached, on the CPU);
    bool tensors become uint8 (the wire has no bool arrays)."""
    out = {}
    for name, value in params.items():
        if _is_torch_tensor(value):
            arr = value.detach().cpu().numpy()
            out[name] = arr.astype(np.uint8) if arr.dtype == np.bool_ else arr
        else:
            out[name] = value
    return out
