"""What PocEnv and ProdEnv share: a job submitted, watched and downloaded through `cohort admin …
--json` with an admin's startup kit (Cohort signs the commands and the job; nothing of that is
re-implemented here)."""

import os
import shutil
import tempfile
import time

from .cohort_cli import admin_json
from .spec import ExecEnv

_POLL_SECONDS = 2.0


class AdminEnv(ExecEnv):
    def __init__(self, extra=None):
        super().__init__(extra)

    def admin_kit(self) -> str:
        raise NotImplementedError

    def deploy(self, job) -> str:
        folder = tempfile.mkdtemp(prefix="cohort-recipe-")
        try:
            job_dir = job.export_job(folder)
            answer = admin_json(self.admin_kit(), f"submit_job {job_dir}")
        finally:
            shutil.rmtree(folder, ignore_errors=True)
        job_id = answer.get("job_id")
        if not isinstance(job_id, str) or not job_id:
            raise RuntimeError(f"submit_job did not return a job id: {answer}")
        print(f"Submitted job: {job_id}")
        return job_id

    def get_job_status(self, job_id: str):
        return admin_json(self.admin_kit(), f"get_job_meta {job_id}").get("status")

    def get_job_result(self, job_id: str, timeout: float = 0.0):
        """Waits until the job has finished (0: no limit), then downloads its results and returns where they are."""
        deadline = time.monotonic() + timeout if timeout and timeout > 0 else None
        while True:
            status = str(self.get_job_status(job_id) or "")
            if status.startswith("FINISHED"):
                break
            if deadline is not None and time.monotonic() >= deadline:
                return None
            time.sleep(_POLL_SECONDS)
        answer = admin_json(self.admin_kit(), f"download_job {job_id}", timeout=3600)
        where = answer.get("downloaded_to")
        return where if isinstance(where, str) and os.path.isdir(where) else None

    def abort_job(self, job_id: str) -> None:
        # `cohort admin -c` asks for confirmation of an abort as FLARE's console does: this is the user's own run.
        admin_json(self.admin_kit(), f"abort_job {job_id}", extra=("--yes",))
