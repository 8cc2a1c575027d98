"""FLARE's `nvflare.app_common.workflows` (the controllers FedJob and recipes export)."""
