"""FLARE's `nvflare.fuel` (only the constants job.py files import)."""
