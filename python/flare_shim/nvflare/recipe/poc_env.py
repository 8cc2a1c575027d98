"""FLARE's PocEnv: the job submitted to Cohort's POC (`cohort poc`). A POC already running in the
workspace is used as it is and left running; otherwise PocEnv prepares and starts one and stops it
when the run's result has been collected (as FLARE's does)."""

import json
import os

from .admin_env import AdminEnv
from .cohort_cli import run_cohort

POC_ADMIN = "admin@cohort.poc"


class PocEnv(AdminEnv):
    def __init__(self, *, num_clients: int = 2, clients=None, gpu_ids=None, use_he: bool = False, docker_image=None, project_conf_path: str = "", poc_workspace=None, extra=None):
        super().__init__(extra)
        if docker_image or project_conf_path or use_he:
            raise ValueError("PocEnv: docker_image, project_conf_path and use_he are not supported by Cohort's POC (docs/flare-compat.md)")
        self.num_clients = num_clients if not clients else len(clients)
        self.clients = list(clients) if clients else None
        self.poc_workspace = poc_workspace or os.environ.get("COHORT_POC_WORKSPACE") or os.path.join(os.path.expanduser("~"), ".cohort", "poc")
        self._started_here = False

    def _poc(self, *argv, check=True):
        r = run_cohort(["poc", *argv, "-w", self.poc_workspace], capture=True, timeout=600)
        if check and r.returncode != 0:
            raise RuntimeError(f"cohort poc {argv[0]}: {(r.stderr or r.stdout).strip()}")
        return r

    def _running(self) -> bool:
        status = self._poc("status", check=False).stdout
        return "running" in status and "not running" not in status

    def admin_kit(self) -> str:
        try:
            with open(os.path.join(self.poc_workspace, "poc.json")) as f:
                kit = json.load(f)["admin"]["kit"]
        except (OSError, ValueError, KeyError, TypeError):
            kit = os.path.join("cohort_poc", "prod_00", POC_ADMIN)
        return os.path.join(self.poc_workspace, kit)

    def deploy(self, job) -> str:
        if not self._running():
            if not os.path.isfile(os.path.join(self.poc_workspace, "poc.json")):
                self._poc("prepare", *(["-c", ",".join(self.clients)] if self.clients else ["-n", str(self.num_clients)]))
            self._poc("start")
            self._started_here = True
        return super().deploy(job)

    def stop(self, clean_up: bool = False) -> None:
        if self._started_here:
            self._poc("stop", check=False)
            self._started_here = False
