"""FLARE's widgets, for FedJob."""
