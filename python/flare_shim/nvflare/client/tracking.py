"""FLARE's `nvflare.client.tracking` writers, from cohort_flare.tracking: each value goes to the
site through flare.log with its key, step and writer name."""

from cohort_flare.tracking import MLflowWriter, SummaryWriter, TBWriter, WandBWriter

__all__ = ["MLflowWriter", "SummaryWriter", "TBWriter", "WandBWriter"]
