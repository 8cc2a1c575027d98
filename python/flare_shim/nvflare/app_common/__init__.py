"""FLARE's `nvflare.app_common` (only what training scripts import)."""
