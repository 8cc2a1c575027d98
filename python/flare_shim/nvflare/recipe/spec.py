"""FLARE's recipe base classes: a Recipe wraps a FedJob; an ExecEnv deploys it and reports on it."""

import os

from nvflare.job_config.api import FedJob


class ExecEnv:
    def __init__(self, extra=None):
        self.extra = dict(extra or {})

    def deploy(self, job: FedJob) -> str:
        raise NotImplementedError

    def get_job_status(self, job_id: str):
        raise NotImplementedError

    def get_job_result(self, job_id: str, timeout: float = 0.0):
        raise NotImplementedError

    def abort_job(self, job_id: str) -> None:
        raise NotImplementedError

    def stop(self, clean_up: bool = False) -> None:
        """Called when a run's result has been collected (environments that started something stop it)."""


class Recipe:
    def __init__(self, job: FedJob):
        self.job = job
        self.name = job.name

    def export(self, job_dir: str, server_exec_params=None, client_exec_params=None, env=None) -> str:
        """Writes the job folder `<job_dir>/<name>/` (what `cohort simulator` and `submit_job` take)."""
        os.makedirs(job_dir, exist_ok=True)
        return self.job.export_job(job_dir)

    def execute(self, env: ExecEnv, server_exec_params=None, client_exec_params=None):
        from nvflare.recipe.run import Run

        job_id = env.deploy(self.job)
        return Run(env, job_id)
