"""FLARE's `nvflare.app_common.np` (only what training scripts import)."""
