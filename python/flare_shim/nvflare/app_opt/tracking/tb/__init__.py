"""FLARE's `nvflare.app_opt.tracking.tb` (only what job.py files import)."""
