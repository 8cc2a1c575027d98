"""FLARE's `nvflare.app_common.tracking` (only what training scripts import)."""
