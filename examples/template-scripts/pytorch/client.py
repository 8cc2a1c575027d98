"""A PyTorch training script for Cohort's PyTorch job templates (fedavg_pt, fedavg_cse_pt, cyclic_pt,
swarm_cse_pt), written as FLARE's hello-pt client.py is (`import nvflare.client as flare`, the state
dict through FLModel) and answering every task the templates send: train, validate and
submit_model. Data: the site's Fashion-MNIST (Cohort's data_dir), a subset chosen by the site's
name.

    cohort job create -j /tmp/my_job -w fedavg_pt -sd examples/template-scripts/pytorch
    cohort simulator /tmp/my_job -n 2

Arguments (set them with -f config_fed_client.conf app_config="--train_samples 2000"):
  --train_samples N   training images per site (default 1000)
  --test_samples N    test images (default 500)
  --epochs N          local epochs per training task (default 1)

initial_model.safetensors holds the initial weights of model.SimpleNetwork (torch.manual_seed(0)),
which the server's PTFileModelPersistor reads: Cohort's server never runs Python. Written with
`python3 make_initial_model.py` (cohort_flare.safetensors).
"""

import argparse
import gzip
import os
import zlib

import numpy as np
import torch
from model import SimpleNetwork
from torch import nn
from torch.optim import SGD

import nvflare.client as flare

DATASET_PATH = "/usr/share/datasets/fashion-mnist"


def read_idx(path):
    with gzip.open(path, "rb") as f:
        data = f.read()
    dims = data[3]
    shape = [int.from_bytes(data[4 + 4 * i : 8 + 4 * i], "big") for i in range(dims)]
    return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * dims).reshape(shape)


def fashion_mnist(data_dir, train, limit, seed):
    prefix = "train" if train else "t10k"
    images = read_idx(os.path.join(data_dir, f"{prefix}-images-idx3-ubyte.gz"))
    labels = read_idx(os.path.join(data_dir, f"{prefix}-labels-idx1-ubyte.gz"))
    pick = np.random.default_rng(seed).permutation(len(labels))[:limit]
    x = torch.from_numpy((images[pick].astype(np.float32) / 255.0 - 0.5) / 0.5).unsqueeze(1)
    y = torch.from_numpy(labels[pick].astype(np.int64))
    return torch.utils.data.TensorDataset(x, y)


def evaluate(net, loader):
    correct = total = 0
    with torch.no_grad():
        for images, labels in loader:
            predicted = torch.max(net(images).data, 1)[1]
            total += labels.size(0)
            correct += (predicted == labels).sum().item()
    return correct / total


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--train_samples", type=int, default=1000)
    parser.add_argument("--test_samples", type=int, default=500)
    parser.add_argument("--epochs", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(1)
    model = SimpleNetwork()
    loss = nn.CrossEntropyLoss()

    flare.init()
    site = flare.get_site_name()
    data_dir = flare.get_config().get("data_dir") or DATASET_PATH
    train_loader = torch.utils.data.DataLoader(
        fashion_mnist(data_dir, True, args.train_samples, zlib.crc32(site.encode())), batch_size=16, shuffle=True
    )
    test_loader = torch.utils.data.DataLoader(fashion_mnist(data_dir, False, args.test_samples, 0), batch_size=256)
    last_trained = None

    while flare.is_running():
        input_model = flare.receive()
        if input_model is None:
            break
        if flare.is_submit_model():
            # Cross-site evaluation asks for this site's own model: the last one it trained.
            if last_trained is None:
                raise RuntimeError(f"{site} has not trained a model yet")
            flare.send(flare.FLModel(params=last_trained))
            continue
        model.load_state_dict(input_model.params)
        accuracy = evaluate(model, test_loader)
        if flare.is_evaluate():
            flare.send(flare.FLModel(metrics={"accuracy": accuracy}))
            continue
        optimizer = SGD(model.parameters(), lr=0.01, momentum=0.9)
        for _ in range(args.epochs):
            for images, labels in train_loader:
                optimizer.zero_grad()
                loss(model(images), labels).backward()
                optimizer.step()
        last_trained = {k: v.clone() for k, v in model.state_dict().items()}
        flare.log("accuracy", accuracy, global_step=input_model.current_round or 0)
        flare.send(
            flare.FLModel(
                params=model.state_dict(),
                metrics={"accuracy": accuracy},
                meta={"NUM_STEPS_CURRENT_ROUND": args.epochs * len(train_loader)},
            )
        )


if __name__ == "__main__":
    main()
