"""FLARE's `nvflare.fuel.utils.constants.FrameworkType`."""

from enum import Enum


class FrameworkType(str, Enum):
    RAW = "raw"
    NUMPY = "numpy"
    PYTORCH = "pytorch"
    TENSORFLOW = "tensorflow"
