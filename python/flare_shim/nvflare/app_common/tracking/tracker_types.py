"""FLARE's `nvflare.app_common.tracking.tracker_types.LogWriterName`, from cohort_flare.tracking."""

from cohort_flare.tracking import LogWriterName

__all__ = ["LogWriterName"]
