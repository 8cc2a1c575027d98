"""Cohort's Client API for Python, with the names of NVIDIA FLARE's `nvflare.client`, so that a
FLARE training script ports by changing its import:

    import cohort_flare as flare          # was: import nvflare.client as flare

    flare.init()
    while flare.is_running():
        model = flare.receive()           # FLModel: params (numpy arrays), current_round, ...
        if flare.is_train():
            ...train...
            flare.send(flare.FLModel(params=new_params, meta={"NUM_STEPS_CURRENT_ROUND": n}))
        elif flare.is_evaluate():
            flare.send(flare.FLModel(metrics={"accuracy": acc}))

The script is started by Cohort's ExternalProcessExecutor, which passes the channel as file
descriptor COHORT_CLIENT_API_FD (docs/protocol.md section 3). Standard library, msgpack, numpy.
"""

import os
import socket

from .channel import Channel, ChannelClosed
from .model import DXO, FLModel, ParamsType, Shareable
from .wire import WireError, decode, encode

__all__ = [
    "FLModel", "ParamsType", "DXO", "Shareable", "WireError", "encode", "decode",
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
    _s.delivered = True
    return _s.task["model"]


def send(model, clear_cache=True):
    """Answers the current task with `model` (an FLModel; params as numpy arrays)."""
    if _s.task is None:
        raise RuntimeError("cohort_flare.send(): there is no task to answer; call receive() first")
    if not isinstance(model, FLModel):
        raise TypeError(f"cohort_flare.send() takes an FLModel, got {type(model).__name__}")
    task = _s.task
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


def log(key, value, data_type=None, **kwargs):
    """Reports a metric (number) or note: it reaches the site log, and numbers join the current
    task's result metrics, which the server reports. `data_type` is FLARE's, accepted and unused."""
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        try:
            value = float(value)
        except (TypeError, ValueError):
            value = str(value)
    msg = {"type": "log", "key": str(key), "value": value}
    step = kwargs.get("global_step", kwargs.get("step"))
    if step is not None:
        msg["step"] = int(step)
    _channel().write(msg)


def shutdown():
    """Closes the channel; the executor sees the script end."""
    if _s.channel is not None:
        _s.channel.close()
    _s.channel = None
    _s.stopped = True
