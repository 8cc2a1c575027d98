"""FLARE components as job.py builds them: each knows its FLARE class path and keeps the
arguments it was given. Exported configs carry only the arguments that differ from the class's
defaults, as FLARE's `fed_job_config._get_args` writes them; Cohort's job loader then builds its own
implementation for that path (docs/flare-compat.md). Nothing here runs in a job: it only describes
one."""

import copy
from enum import Enum


def _plain(value):
    """A value as JSON holds it: enums as their values, numpy arrays and scalars as lists and numbers."""
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if hasattr(value, "tolist"):
        return value.tolist()
    return value


class Component:
    """A FLARE component: `PATH` is its class path, `DEFAULTS` its constructor's defaults."""

    PATH = ""
    DEFAULTS: dict = {}
    #: Where FedJob puts it on the server: "workflows" (controllers) or "components".
    KIND = "components"

    def __init__(self, **kwargs):
        unknown = [k for k in kwargs if k not in self.DEFAULTS]
        if unknown:
            raise TypeError(f"{type(self).__name__}() got unexpected keyword arguments {unknown} (it takes {sorted(self.DEFAULTS)})")
        self.args = copy.deepcopy(kwargs)

    #: Arguments written even at their default (where Cohort's default differs from FLARE's).
    always = ()

    def config_args(self) -> dict:
        return {k: _plain(v) for k, v in self.args.items() if k in self.always or _plain(v) != _plain(self.DEFAULTS.get(k))}

    def config(self, comp_id=None) -> dict:
        entry = {"path": self.PATH, "args": self.config_args()}
        return {"id": comp_id, **entry} if comp_id is not None else entry


def component_class(name: str, path: str, defaults: dict, kind: str = "components"):
    """A Component subclass for one FLARE class (its module's name for it)."""
    return type(name, (Component,), {"PATH": path, "DEFAULTS": defaults, "KIND": kind, "__doc__": f"FLARE's {path}."})
