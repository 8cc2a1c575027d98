"""A numpy training script for Cohort's job templates (fedavg_np, fedavg_cse_np, cyclic_np, swarm_cse_np).

Written against FLARE's Client API (`import nvflare.client as flare`), as FLARE's hello-numpy is:
it runs unchanged under FLARE too. The model is whatever the job's persistor holds: FLARE's
NPModelPersistor's 3 x 3 array under "numpy_key" (every template; any named arrays work). Each site holds a synthetic target for every parameter
(its "data", which never leaves it); training takes gradient steps on the mean squared error to
that target, so the global model moves towards the sites' average target round by round, and
evaluation reports the error to this site's target.

    cohort job create -j /tmp/my_job -w fedavg_np -sd examples/template-scripts/numpy
    cohort simulator /tmp/my_job -n 2

Arguments (set them with -f config_fed_client.conf app_config="--local_steps 5"):
  --local_steps N    gradient steps per training task (default 2)
  --lr X             step size (default 0.25)
"""

import argparse

import numpy as np

import nvflare.client as flare


def site_target(site_name: str, name: str, like: np.ndarray) -> np.ndarray:
    """This site's private target for parameter `name`: a fixed pattern shifted by an offset drawn from the site's name."""
    offset = sum(site_name.encode()) % 3
    return (np.arange(like.size, dtype=np.float32) % 9 + offset).reshape(like.shape).astype(np.float32)


def mse(params: dict, targets: dict) -> float:
    errors = [np.mean((np.asarray(params[k], dtype=np.float32) - targets[k]) ** 2) for k in targets]
    return float(np.mean(errors))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--local_steps", type=int, default=2)
    parser.add_argument("--lr", type=float, default=0.25)
    args = parser.parse_args()

    flare.init()
    site = flare.get_site_name()
    last_trained = None

    while flare.is_running():
        model = flare.receive()
        if model is None:
            break
        params = model.params or {}
        targets = {k: site_target(site, k, np.asarray(v)) for k, v in params.items()}

        if flare.is_train():
            if not params:
                raise RuntimeError("a training task came without a model")
            new = {k: np.asarray(v, dtype=np.float32) for k, v in params.items()}
            for _ in range(args.local_steps):
                new = {k: w - args.lr * 2 * (w - targets[k]) for k, w in new.items()}  # the squared error's gradient
            last_trained = new
            flare.log("train_mse", mse(new, targets), flare.AnalyticsDataType.SCALAR, global_step=model.current_round)
            flare.send(
                flare.FLModel(
                    params=new,
                    params_type=flare.ParamsType.FULL,
                    metrics={"mse": mse(new, targets)},
                    meta={"NUM_STEPS_CURRENT_ROUND": args.local_steps},
                    current_round=model.current_round,
                )
            )
        elif flare.is_evaluate():
            flare.send(flare.FLModel(metrics={"mse": mse(params, targets)} if params else {}))
        elif flare.is_submit_model():
            if last_trained is None:
                raise RuntimeError("asked for this site's model before it trained one")
            flare.send(flare.FLModel(params=last_trained, params_type=flare.ParamsType.FULL))
        else:
            flare.send(flare.FLModel(metrics={}))


if __name__ == "__main__":
    main()
