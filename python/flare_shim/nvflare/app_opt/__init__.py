"""FLARE's `nvflare.app_opt` (only what job.py files import)."""
