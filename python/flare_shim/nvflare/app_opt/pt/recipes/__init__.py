"""FLARE's PyTorch recipes."""

from .fedavg import FedAvgRecipe

__all__ = ["FedAvgRecipe"]
