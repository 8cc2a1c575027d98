"""FLARE's `nvflare.app_common.abstract.fl_model`: cohort_flare's FLModel and ParamsType."""

from cohort_flare import FLModel, ParamsType

__all__ = ["FLModel", "ParamsType"]
