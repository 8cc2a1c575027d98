"""FLARE's `nvflare.app_common.abstract` (only what training scripts import)."""
