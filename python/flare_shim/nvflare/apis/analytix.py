"""FLARE's `nvflare.apis.analytix.AnalyticsDataType`, from cohort_flare.tracking."""

from cohort_flare.tracking import AnalyticsDataType

__all__ = ["AnalyticsDataType"]
