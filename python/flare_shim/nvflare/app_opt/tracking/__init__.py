"""FLARE's `nvflare.app_opt.tracking` (only what job.py files import)."""
