"""The Client API functions (FLARE's names) over the channel to Cohort's executor (docs/protocol.md
section 3). Reached as `cohort_flare.<name>` (or `nvflare.client.<name>` through Cohort's shim);
one module-level state per process, as in FLARE.
"""

import os
import re
import socket

from .channel import Channel, ChannelClosed
from .model import FLModel
from .params_format import PYTORCH, exchange_format, to_numpy, to_torch

__all__ = [
    "init", "receive", "send", "is_running", "is_train", "is_evaluate", "is_submit_model",
    "get_task_name", "get_site_name", "get_job_id", "get_config", "system_info", "log", "clear", "shutdown",
]

CHANNEL_VERSION = 1
FD_ENV = "COHORT_CLIENT_API_FD"


class _State:
    def __init__(self):
        self.channel = None
        self.hello = None
        self.task = None  # the received task message not yet answered
        self.delivered = False  # receive() has returned the current task's model
        self.stopped = False
        self.stop_reason = None


_s = _State()


def init(rank=None, config_file=None, channel=None):
    """Connects to the Cohort executor (idempotent). `rank` and `config_file` are FLARE's
    arguments, accepted and unused. `channel` is for tests: a connected socket."""
    if _s.channel is not None:
        return
    if channel is None:
        fd = os.environ.get(FD_ENV)
        if fd is None:
            raise RuntimeError(f"cohort_flare.init(): {FD_ENV} is not set; this script must be started by Cohort's ExternalProcessExecutor (see docs/client-api.md)")
        channel = Channel.from_fd(int(fd))
    elif isinstance(channel, socket.socket):
        channel = Channel(channel)
    _s.channel = channel
    try:
        hello = channel.read()
    except ChannelClosed:
        _s.stopped = True
        raise RuntimeError("cohort_flare.init(): the channel closed before the executor said hello") from None
    if not isinstance(hello, dict) or hello.get("type") != "hello":
        raise RuntimeError(f"cohort_flare.init(): expected hello from the executor, got {type(hello).__name__}")
    if hello.get("version") != CHANNEL_VERSION:
        raise RuntimeError(f"cohort_flare.init(): the executor speaks channel version {hello.get('version')}, this module {CHANNEL_VERSION}")
    _s.hello = hello
    channel.write({"type": "ready", "version": CHANNEL_VERSION})


def _channel():
    if _s.channel is None:
        init()
    return _s.channel


def _next():
    """Reads until a task or a stop; returns True when a task is current."""
    if _s.task is not None:
        return True
    if _s.stopped:
        return False
    try:
        msg = _channel().read()
    except (ChannelClosed, ConnectionError):
        _s.stopped = True
        _s.stop_reason = "channel closed"
        return False
    if not isinstance(msg, dict):
        raise RuntimeError(f"unexpected message from the executor: {type(msg).__name__}")
    if msg.get("type") == "stop":
        _s.stopped = True
        _s.stop_reason = msg.get("reason")
        return False
    if msg.get("type") != "task" or not isinstance(msg.get("model"), FLModel):
        raise RuntimeError(f"unexpected message from the executor: {msg.get('type')!r}")
    _s.task = msg
    _s.delivered = False
    return True


def is_running():
    """True while the job runs; waits for the next task if none is pending (as FLARE's does)."""
    return _next()


def receive(timeout=None):
    """The current task's model (FLModel), waiting for the next task if needed; None once the job ends.
    `timeout` (seconds): None after that long without a task."""
    if _s.task is None and not _s.stopped and timeout is not None:
        sock = _channel().sock
        sock.settimeout(timeout)
        try:
            _next()
        except (socket.timeout, TimeoutError):
            return None
        finally:
            sock.settimeout(None)
    elif not _next():
        return None
    if _s.task is None:
        return None
    if not _s.delivered and exchange_format() == PYTORCH:
        # Once per task: FLARE's pytorch exchange hands the script torch tensors.
        model = _s.task["model"]
        model.params = to_torch(model.params)
    _s.delivered = True
    return _s.task["model"]


def send(model, clear_cache=True):
    """Answers the current task with `model` (an FLModel; params as numpy arrays or torch tensors,
    which travel as numpy arrays)."""
    if _s.task is None:
        raise RuntimeError("cohort_flare.send(): there is no task to answer; call receive() first")
    if not isinstance(model, FLModel):
        raise TypeError(f"cohort_flare.send() takes an FLModel, got {type(model).__name__}")
    task = _s.task
    if isinstance(model.params, dict):
        model.params = to_numpy(model.params)
    if model.current_round is None:
        model.current_round = task["model"].current_round
    _channel().write({"type": "result", "task_id": task["task_id"], "model": model})
    if clear_cache:
        clear()


def clear():
    """Forgets the current task (FLARE's clear())."""
    _s.task = None
    _s.delivered = False


def _kind():
    _next()
    return _s.task.get("kind") if _s.task is not None else None


def is_train():
    return _kind() == "train"


def is_evaluate():
    return _kind() == "evaluate"


def is_submit_model():
    return _kind() == "submit_model"


def get_task_name():
    _next()
    return _s.task.get("task_name") if _s.task is not None else None


def _hello():
    _channel()
    return _s.hello


def get_site_name():
    return _hello()["site"]


def get_job_id():
    return _hello()["job_id"]


def get_config():
    """The executor's `config` argument (with `data_dir`, the site's dataset folder, by default)."""
    return dict(_hello().get("config") or {})


def system_info():
    h = _hello()
    return {"site_name": h["site"], "job_id": h["job_id"], "job_name": h.get("job_name"), "sites": list(h.get("sites") or [])}


# FLARE's AnalyticsDataType names (cohort_flare.tracking). A dict logged as METRICS, PARAMETERS or
# TAGS (MLflow's log_metrics/log_params/set_tags, W&B's log) is one entry per name; any other dict
# (TensorBoard's add_scalars) is "<key>/<name>" per entry.
_NAMED_BY_ENTRY = {"METRICS", "PARAMETERS", "TAGS"}
# What describes a run rather than measures it travels as text: it never joins the result's metrics.
_TEXT_TYPES = {"PARAMETER", "PARAMETERS", "TAG", "TAGS", "TEXT"}
MAX_KEY = 128
_WRITER = re.compile(r"[A-Za-z0-9_.-]{1,32}\Z")
_MAX_EXACT_INT = 2**53 - 1


def _plain(v):
    """An Enum member's value, or `v` itself."""
    return getattr(v, "value", v)


def log(key, value, data_type=None, **kwargs):
    """Reports a metric (number) or note to the site (FLARE's flare.log). Each value reaches the site
    log; numbers join the current task's result metrics, which the server reports. `data_type`
    (FLARE's AnalyticsDataType) decides how a dict value is named and whether values are text;
    `global_step` (or `step`) and `writer` (LogWriterName) travel with each value."""
    kind = _plain(data_type)
    if isinstance(value, dict):
        prefix = "" if kind in _NAMED_BY_ENTRY else f"{key}/"
        for name, v in value.items():
            _log_one(f"{prefix}{name}", v, kind, kwargs)
    else:
        _log_one(key, value, kind, kwargs)


def _log_one(key, value, kind, kwargs):
    key = str(key)
    if not 1 <= len(key) <= MAX_KEY:
        raise ValueError(f"cohort_flare.log(): a key must have 1 to {MAX_KEY} characters, got {len(key)}")
    if kind in _TEXT_TYPES:
        value = str(value)
    elif isinstance(value, bool) or not isinstance(value, (int, float, str)):
        try:
            value = float(value)
        except (TypeError, ValueError):
            value = str(value)
    elif isinstance(value, int) and abs(value) > _MAX_EXACT_INT:
        value = float(value)
    msg = {"type": "log", "key": key, "value": value}
    step = kwargs.get("global_step", kwargs.get("step"))
    if step is not None:
        msg["step"] = int(step)
    writer = kwargs.get("writer")
    if writer is not None and _WRITER.match(str(_plain(writer))):
        msg["writer"] = str(_plain(writer))
    _channel().write(msg)


def shutdown():
    """Closes the channel; the executor sees the script end."""
    if _s.channel is not None:
        _s.channel.close()
    _s.channel = None
    _s.stopped = True
