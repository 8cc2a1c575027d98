"""FLARE's FedJob: components sent to the server and the clients, exported as a job folder laid out
as FLARE's `job.export()` writes it (one app `app` for `@ALL` when every client gets the same
components, else `app_server` and `app_<site>`), and run in Cohort's simulator by
`simulator_run`."""

import json
import os
import shutil

from nvflare.job_config.components import Component
from nvflare.job_config.script_runner import ScriptRunner

SERVER = "server"
ALL_CLIENTS = "@ALL"


class _App:
    def __init__(self):
        self.workflows = []  # (id, Component)
        self.components = []  # (id, Component)
        self.executors = []  # (tasks, Component)
        self.resources = []  # files for custom/

    def _next_id(self, prefix, taken):
        n = 0
        while True:
            candidate = prefix if n == 0 else f"{prefix}{n}"
            if candidate not in taken:
                return candidate
            n += 1

    def ids(self):
        return {i for i, _ in self.workflows} | {i for i, _ in self.components}

    def add(self, obj, comp_id, tasks):
        if isinstance(obj, ScriptRunner):
            self.executors.append((tasks or ["*"], obj.executor()))
            self.resources.extend(obj.resources())
            return None
        if not isinstance(obj, Component):
            raise TypeError(
                f"{type(obj).__name__} is not a component Cohort's FedJob knows; FLARE classes a job folder names are listed in docs/flare-compat.md"
            )
        # Files a component brings (PTFileModelPersistor: its model's source, which clients import).
        self.resources.extend(r for r in getattr(obj, "resources", list)() if r not in self.resources)
        if obj.KIND == "workflows":
            comp_id = comp_id or self._next_id("controller", self.ids())
            self.workflows.append((comp_id, obj))
        elif tasks is not None or "executors" in obj.PATH:
            self.executors.append((tasks or ["*"], obj))
            return None
        else:
            comp_id = comp_id or self._next_id("component", self.ids())
            if comp_id in self.ids():
                raise ValueError(f"component id {comp_id!r} is used twice in the same app")
            self.components.append((comp_id, obj))
        return comp_id


class FedJob:
    def __init__(self, name: str = "fed_job", min_clients: int = 1, mandatory_clients=None, meta_props=None):
        if not name or "/" in name or name.startswith("."):
            raise ValueError(f"FedJob name {name!r}: use a plain name (it names the job folder)")
        self.name = name
        self.min_clients = min_clients
        self.mandatory_clients = list(mandatory_clients or [])
        self.meta_props = dict(meta_props or {})
        self._server = _App()
        self._clients = {}  # target -> _App

    def to_server(self, obj, id=None):
        return self._server.add(obj, id, None)

    def to_clients(self, obj, id=None, tasks=None):
        return self.to(obj, ALL_CLIENTS, id=id, tasks=tasks)

    def to(self, obj, target: str, id=None, tasks=None, **_ignored):
        if target == SERVER:
            return self.to_server(obj, id)
        return self._clients.setdefault(target, _App()).add(obj, id, tasks)

    # -- export ---------------------------------------------------------------------------------
    def export_job(self, job_root: str) -> str:
        """Writes `<job_root>/<name>/` and returns its path."""
        job_dir = os.path.join(job_root, self.name)
        if os.path.exists(job_dir):
            shutil.rmtree(job_dir)
        apps = self._apps()
        deploy_map = {}
        for app_name, (targets, server, client) in apps.items():
            deploy_map[app_name] = targets
            config = os.path.join(job_dir, app_name, "config")
            os.makedirs(config)
            if server is not None:
                _write_json(os.path.join(config, "config_fed_server.json"), _server_config(server))
            if client is not None:
                _write_json(os.path.join(config, "config_fed_client.json"), _client_config(client))
            files = (server.resources if server else []) + (client.resources if client else [])
            if files:
                custom = os.path.join(job_dir, app_name, "custom")
                os.makedirs(custom, exist_ok=True)
                for f in files:
                    if not os.path.isfile(f):
                        raise FileNotFoundError(f"{f}: the script this job names does not exist (paths are relative to {os.getcwd()})")
                    shutil.copy(f, custom)
            # Files components write at export (PTFileModelPersistor: the initial weights).
            for _, comp in (server.workflows + server.components) if server else []:
                if hasattr(comp, "write_files"):
                    comp.write_files(os.path.join(job_dir, app_name))
        meta = {"name": self.name, "resource_spec": {}, "min_clients": self.min_clients, "deploy_map": deploy_map}
        if self.mandatory_clients:
            meta["mandatory_clients"] = self.mandatory_clients
        meta.update(self.meta_props)
        _write_json(os.path.join(job_dir, "meta.json"), meta)
        return job_dir

    export = export_job

    def _apps(self):
        if set(self._clients) <= {ALL_CLIENTS}:
            return {"app": ([ALL_CLIENTS], self._server, self._clients.get(ALL_CLIENTS, _App()))}
        apps = {"app_server": ([SERVER], self._server, None)}
        for target, app in self._clients.items():
            apps[f"app_{target}"] = ([target] if target != ALL_CLIENTS else [ALL_CLIENTS], None, app)
        return apps

    def simulator_run(self, workspace: str, n_clients=None, clients=None, threads=None, gpu=None, log_config=None) -> int:
        """Runs the job in Cohort's simulator (`cohort simulator`); returns its exit status."""
        import tempfile

        from nvflare.recipe.cohort_cli import run_cohort

        folder = tempfile.mkdtemp(prefix="cohort-fedjob-")
        try:
            argv = ["simulator", self.export_job(folder), "-w", workspace]
            argv += ["-c", ",".join(clients)] if clients else ["-n", str(n_clients or self.min_clients)]
            if threads:
                argv += ["-t", str(threads)]
            return run_cohort(argv).returncode
        finally:
            shutil.rmtree(folder, ignore_errors=True)


def _server_config(app: _App) -> dict:
    return {
        "format_version": 2,
        "workflows": [c.config(i) for i, c in app.workflows],
        "components": [c.config(i) for i, c in app.components],
        "task_data_filters": [],
        "task_result_filters": [],
    }


def _client_config(app: _App) -> dict:
    return {
        "format_version": 2,
        "executors": [{"tasks": tasks, "executor": c.config()} for tasks, c in app.executors],
        "components": [c.config(i) for i, c in app.components],
        "task_data_filters": [],
        "task_result_filters": [],
    }


def _write_json(path: str, value) -> None:
    with open(path, "w") as f:
        f.write(json.dumps(value, indent=4))
