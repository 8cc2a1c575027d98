"""FLARE's Job API (`nvflare.job_config`): FedJob and ScriptRunner write job folders Cohort runs."""
