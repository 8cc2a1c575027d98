"""FLARE's `nvflare.client.config`: the enums job.py files pass to recipes."""

from enum import Enum


class TransferType(str, Enum):
    FULL = "FULL"
    DIFF = "DIFF"


class ExchangeFormat(str, Enum):
    RAW = "raw"
    PYTORCH = "pytorch"
    NUMPY = "numpy"
    KERAS_LAYER_WEIGHTS = "keras_layer_weights"
