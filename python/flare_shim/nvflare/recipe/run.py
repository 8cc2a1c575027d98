"""FLARE's Run: one deployed job, its status and its result (where the results are)."""

import threading


class Run:
    def __init__(self, exec_env, job_id: str):
        if exec_env is None:
            raise ValueError("exec_env cannot be None")
        if not job_id or not isinstance(job_id, str):
            raise ValueError("job_id must be a non-empty string")
        self.exec_env = exec_env
        self.job_id = job_id
        self._lock = threading.Lock()
        self._stopped = False
        self._status = None
        self._result = None

    def get_job_id(self) -> str:
        return self.job_id

    def get_status(self):
        with self._lock:
            return self._status if self._stopped else self.exec_env.get_job_status(self.job_id)

    def get_result(self, timeout: float = 0.0, clean_up: bool = True):
        """Waits for the job to finish (at most `timeout` seconds; 0: no limit) and returns where its results are."""
        with self._lock:
            if self._stopped:
                return self._result
            try:
                self._result = self.exec_env.get_job_result(self.job_id, timeout=timeout)
                self._status = self.exec_env.get_job_status(self.job_id)
            finally:
                self.exec_env.stop(clean_up=clean_up)
                self._stopped = True
            return self._result

    def abort(self) -> None:
        with self._lock:
            if not self._stopped:
                self.exec_env.abort_job(self.job_id)
