"""Runs Cohort's CLI for the recipe environments: the one implementation of the simulator, POC,
login, command signing and job manifests (never a second one in Python). Found as `$COHORT_CLI` (a
command, or the path of Cohort's dist/cli/main.js), else `cohort` on PATH, else the checkout this
shim belongs to (`<checkout>/dist/cli/main.js`, run with `node`)."""

import json
import os
import shlex
import shutil
import subprocess

_CHECKOUT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..", "..", ".."))


def cohort_command() -> list:
    explicit = os.environ.get("COHORT_CLI")
    if explicit:
        parts = shlex.split(explicit)
        return ["node", *parts] if parts[0].endswith(".js") else parts
    on_path = shutil.which("cohort")
    if on_path:
        return [on_path]
    beside = os.path.join(_CHECKOUT, "dist", "cli", "main.js")
    if os.path.isfile(beside):
        node = shutil.which("node")
        if not node:
            raise RuntimeError(f"found Cohort at {beside} but no `node` on PATH: install Node.js 20 or newer")
        return [node, beside]
    raise RuntimeError(
        "Cohort's command is not on PATH and this nvflare shim is not inside a built Cohort checkout: "
        "install Cohort (README, \"Install\") or set COHORT_CLI to its dist/cli/main.js"
    )


def run_cohort(argv: list, capture: bool = False, timeout=None) -> subprocess.CompletedProcess:
    return subprocess.run([*cohort_command(), *argv], capture_output=capture, text=True, timeout=timeout, check=False)


def admin_json(admin_kit: str, command: str, timeout: float = 300, extra=()) -> dict:
    """One `cohort admin <kit> -c <command> --json`; raises with Cohort's reason when refused."""
    r = run_cohort(["admin", admin_kit, "-c", command, "--json", *extra], capture=True, timeout=timeout)
    if r.returncode != 0:
        raise RuntimeError(f"cohort admin {command.split(' ')[0]}: {(r.stderr or r.stdout).strip()}")
    try:
        return json.loads(r.stdout)
    except ValueError as e:
        raise RuntimeError(f"cohort admin {command.split(' ')[0]} answered something other than JSON: {r.stdout[:300]!r}") from e
