"""FLARE's SimEnv: the job in Cohort's simulator (`cohort simulator`), its workspace at
`<workspace_root>/<job name>` ($NVFLARE_SIMULATOR_WORKSPACE_ROOT wins, as in FLARE). Unlike FLARE's,
`get_status` answers with the simulator's final status instead of None."""

import json
import os
import warnings

from .spec import ExecEnv

WORKSPACE_ROOT = "/tmp/nvflare/simulation"
SIMULATOR_WORKSPACE_ROOT_ENV_VAR = "NVFLARE_SIMULATOR_WORKSPACE_ROOT"


class SimEnv(ExecEnv):
    def __init__(self, *, num_clients: int = 0, clients=None, num_threads=None, gpu_config=None, log_config=None, workspace_root: str = WORKSPACE_ROOT, extra=None):
        super().__init__(extra)
        if num_clients <= 0 and not clients:
            raise ValueError("Either 'num_clients' must be > 0 or 'clients' list must be provided. Cannot run simulation with no clients.")
        if num_clients > 0 and clients and len(clients) != num_clients:
            raise ValueError(f"Inconsistent number of clients: num_clients={num_clients} but clients list has {len(clients)} entries.")
        self.num_clients = num_clients if num_clients > 0 else len(clients)
        self.clients = list(clients) if clients else None
        self.num_threads = num_threads
        self.gpu_config = gpu_config
        self.log_config = log_config
        override = os.environ.get(SIMULATOR_WORKSPACE_ROOT_ENV_VAR)
        if override and override != workspace_root:
            warnings.warn(f"{SIMULATOR_WORKSPACE_ROOT_ENV_VAR} overrides SimEnv workspace_root from {workspace_root!r} to {override!r}", RuntimeWarning, stacklevel=2)
        self.workspace_root = override or workspace_root

    def deploy(self, job) -> str:
        workspace = os.path.join(self.workspace_root, job.name)
        code = job.simulator_run(workspace=workspace, n_clients=self.num_clients if self.clients is None else None, clients=self.clients, threads=self.num_threads)
        if code != 0:
            raise RuntimeError(f"Simulation failed with return code {code}. The log is {os.path.join(workspace, 'log.txt')}")
        return job.name

    def get_job_status(self, job_id: str):
        try:
            with open(os.path.join(self.workspace_root, job_id, "simulation.json")) as f:
                return json.load(f).get("status")
        except (OSError, ValueError):
            return None

    def get_job_result(self, job_id: str, timeout: float = 0.0):
        return os.path.join(self.workspace_root, job_id)

    def abort_job(self, job_id: str) -> None:
        print("abort is not supported in a simulation environment, it will always run to completion.")
