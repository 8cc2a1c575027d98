"""FLARE's numpy recipes."""

from .cross_site_eval import NumpyCrossSiteEvalRecipe
from .fedavg import NumpyFedAvgRecipe

__all__ = ["NumpyCrossSiteEvalRecipe", "NumpyFedAvgRecipe"]
