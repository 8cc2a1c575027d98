"""The Client API functions against a fake executor on a socket pair (docs/protocol.md 3)."""

import socket
import unittest

import numpy as np

import cohort_flare as flare
from cohort_flare import _s
from cohort_flare.channel import Channel

HELLO = {"type": "hello", "version": 1, "site": "site-2", "job_id": "j-1", "job_name": "demo", "sites": ["site-1", "site-2"], "config": {"data_dir": "/data", "epochs": 2}}


def reset():
    _s.__init__()


class ChannelCase(unittest.TestCase):
    """A connected cohort_flare with a fake executor on the other end (`self.exe`)."""

    def setUp(self):
        reset()
        self.ours, theirs = socket.socketpair()
        self.exe = Channel(self.ours)
        self.exe.write(HELLO)
        flare.init(channel=theirs)
        self.assertEqual(self.exe.read(), {"type": "ready", "version": 1})

    def tearDown(self):
        flare.shutdown()
        self.ours.close()
        reset()

    def task(self, task_id, name, kind, round_=0):
        params = {"w": np.arange(6, dtype=np.float32), "b": np.zeros(2, dtype=np.float32)}
        self.exe.write({"type": "task", "task_id": task_id, "task_name": name, "kind": kind, "model": flare.FLModel(params=params, params_type="FULL", current_round=round_, total_rounds=3, meta={})})


class Api(ChannelCase):
    def test_site_job_and_config(self):
        self.assertEqual(flare.get_site_name(), "site-2")
        self.assertEqual(flare.get_job_id(), "j-1")
        self.assertEqual(flare.get_config()["epochs"], 2)
        self.assertEqual(flare.system_info()["sites"], ["site-1", "site-2"])

    def test_train_then_evaluate_then_stop(self):
        self.task("1", "train", "train", 1)
        self.assertTrue(flare.is_running())
        self.assertTrue(flare.is_train())
        self.assertFalse(flare.is_evaluate())
        model = flare.receive()
        self.assertEqual((model.current_round, model.total_rounds), (1, 3))
        self.assertEqual(flare.get_task_name(), "train")
        flare.log("accuracy", np.float32(0.25))
        flare.send(flare.FLModel(params={"w": model.params["w"] + 1, "b": model.params["b"]}, meta={"NUM_STEPS_CURRENT_ROUND": 10}))
        log = self.exe.read()
        self.assertEqual(log, {"type": "log", "key": "accuracy", "value": 0.25})
        result = self.exe.read()
        self.assertEqual(result["type"], "result")
        self.assertEqual(result["task_id"], "1")
        self.assertEqual(result["model"].current_round, 1, "the round is filled in from the task")
        np.testing.assert_array_equal(result["model"].params["w"], np.arange(6, dtype=np.float32) + 1)
        self.task("2", "validate", "evaluate")
        self.assertTrue(flare.is_running())
        self.assertTrue(flare.is_evaluate())
        flare.receive()
        flare.send(flare.FLModel(metrics={"accuracy": 0.5}))
        self.assertEqual(self.exe.read()["model"].metrics, {"accuracy": 0.5})
        self.exe.write({"type": "stop", "reason": "job ended"})
        self.assertFalse(flare.is_running())
        self.assertIsNone(flare.receive())

    def test_closed_channel_ends_the_loop(self):
        self.ours.shutdown(socket.SHUT_RDWR)
        self.assertFalse(flare.is_running())

    def test_send_without_a_task_is_an_error(self):
        with self.assertRaisesRegex(RuntimeError, "no task"):
            flare.send(flare.FLModel())

    def test_receive_timeout(self):
        self.assertIsNone(flare.receive(timeout=0.05))

    def test_submit_model_kind(self):
        self.task("3", "submit_model", "submit_model")
        self.assertTrue(flare.is_submit_model())


class NotStartedByCohort(unittest.TestCase):
    def test_init_explains(self):
        reset()
        import os

        saved = os.environ.pop("COHORT_CLIENT_API_FD", None)
        try:
            with self.assertRaisesRegex(RuntimeError, "ExternalProcessExecutor"):
                flare.init()
        finally:
            if saved is not None:
                os.environ["COHORT_CLIENT_API_FD"] = saved
            reset()


if __name__ == "__main__":
    unittest.main()
