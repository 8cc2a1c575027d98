"""FLARE's `nvflare.apis` (only what training scripts import)."""
