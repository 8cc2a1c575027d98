"""FLARE's executors, for FedJob."""
