"""Softmax regression on this site's share of Fashion-MNIST, with numpy only, through Cohort's
Python Client API. A FLARE script ports by changing one import (nvflare.client -> cohort_flare).

The global model is Cohort's built-in softmax layout: "dense1.weight" (10 x 784, row-major, flat)
and "dense1.bias" (10). Each train task first evaluates the received global model on this site's
share of the test set (the accuracy the server reports for it), then trains locally.
"""

import gzip
import os
import struct

import numpy as np

import cohort_flare as flare

CLASSES, FEATURES = 10, 784


def read_idx(path):
    """An IDX file (plain or .gz): big-endian header, then unsigned bytes."""
    opener = gzip.open if path.endswith(".gz") else open
    with opener(path, "rb") as f:
        data = f.read()
    if data[0:2] != b"\0\0" or data[2] != 0x08:
        raise ValueError(f"{path}: not an IDX file of unsigned bytes")
    ndims = data[3]
    dims = struct.unpack(f">{ndims}I", data[4 : 4 + 4 * ndims])
    return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * ndims).reshape(dims)


def find(data_dir, stem):
    for name in (stem + ".gz", stem):
        p = os.path.join(data_dir, name)
        if os.path.exists(p):
            return p
    raise FileNotFoundError(f"{stem}(.gz) not in {data_dir}")


def load_share(data_dir, sites, site, max_train):
    """This site's share: every n-th sample (a stand-in for the site's own data)."""
    me, n = sites.index(site), len(sites)
    x_train = read_idx(find(data_dir, "train-images-idx3-ubyte")).reshape(-1, FEATURES)
    y_train = read_idx(find(data_dir, "train-labels-idx1-ubyte"))
    x_test = read_idx(find(data_dir, "t10k-images-idx3-ubyte")).reshape(-1, FEATURES)
    y_test = read_idx(find(data_dir, "t10k-labels-idx1-ubyte"))
    tr = np.arange(me, len(y_train), n)[:max_train]
    te = np.arange(me, len(y_test), n)
    scale = np.float32(1 / 255)
    return x_train[tr].astype(np.float32) * scale, y_train[tr], x_test[te].astype(np.float32) * scale, y_test[te]


def evaluate(w, b, x, y):
    logits = x @ w.T + b
    logits -= logits.max(axis=1, keepdims=True)
    p = np.exp(logits)
    p /= p.sum(axis=1, keepdims=True)
    loss = float(-np.log(p[np.arange(len(y)), y] + 1e-12).mean())
    return float((logits.argmax(axis=1) == y).mean()), loss


def train(w, b, x, y, epochs, batch, lr, seed):
    rng = np.random.default_rng(seed)
    w, b = w.copy(), b.copy()
    onehot = np.eye(CLASSES, dtype=np.float32)
    for _ in range(epochs):
        order = rng.permutation(len(y))
        for i in range(0, len(order), batch):
            j = order[i : i + batch]
            logits = x[j] @ w.T + b
            logits -= logits.max(axis=1, keepdims=True)
            p = np.exp(logits)
            p /= p.sum(axis=1, keepdims=True)
            d = (p - onehot[y[j]]) / len(j)
            w -= lr * (d.T @ x[j])
            b -= lr * d.sum(axis=0)
    return w, b


def main():
    flare.init()
    cfg = flare.get_config()
    info = flare.system_info()
    site = flare.get_site_name()
    x_tr, y_tr, x_te, y_te = load_share(cfg["data_dir"], sorted(info["sites"]), site, int(cfg.get("max_train_samples", 6000)))
    print(f"{site}: {len(y_tr)} training and {len(y_te)} test samples from {cfg['data_dir']}")
    while flare.is_running():
        model = flare.receive()
        w = model.params["dense1.weight"].reshape(CLASSES, FEATURES)
        b = model.params["dense1.bias"]
        acc, loss = evaluate(w, b, x_te, y_te)
        flare.log("accuracy", acc)
        flare.log("loss", loss)
        if flare.is_train():
            rnd = model.current_round or 0
            w2, b2 = train(w, b, x_tr, y_tr, int(cfg.get("epochs", 1)), int(cfg.get("batch_size", 32)), float(cfg.get("learning_rate", 0.05)), seed=rnd)
            print(f"round {rnd + 1}: global accuracy here {acc:.4f}; trained on {len(y_tr)} samples")
            flare.send(flare.FLModel(
                params={"dense1.weight": w2.astype(np.float32), "dense1.bias": b2.astype(np.float32)},
                params_type=flare.ParamsType.FULL,
                meta={"NUM_STEPS_CURRENT_ROUND": len(y_tr), "eval_samples": len(y_te)},
            ))
        else:
            flare.send(flare.FLModel(metrics={"accuracy": acc, "loss": loss}, meta={"eval_samples": len(y_te)}))


if __name__ == "__main__":
    main()
