"""
client side training script: FLARE's hello-pt client.py with the same imports and Client API calls;
only the data loading differs (Fashion-MNIST from the site's IDX files instead of downloading
CIFAR-10). docs/flare-compat.md lists the lines that differ.
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

# (1) import nvflare client API
import nvflare.client as flare
from nvflare.client.tracking import SummaryWriter

DATASET_PATH = "/usr/share/datasets/fashion-mnist"


def read_idx(path):
    """An IDX file (.gz) as a numpy array: big-endian dimensions, then unsigned bytes."""
    with gzip.open(path, "rb") as f:
        data = f.read()
    dims = data[3]
    shape = [int.from_bytes(data[4 + 4 * i : 8 + 4 * i], "big") for i in range(dims)]
    return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * dims).reshape(shape)


def fashion_mnist(data_dir, train, limit, seed):
    """A TensorDataset of `limit` samples (a subset chosen by `seed`), scaled to [-1, 1] as FLARE's Normalize does."""
    prefix = "train" if train else "t10k"
    images = read_idx(os.path.join(data_dir, f"{prefix}-images-idx3-ubyte.gz"))
    labels = read_idx(os.path.join(data_dir, f"{prefix}-labels-idx1-ubyte.gz"))
    pick = np.random.default_rng(seed).permutation(len(labels))[:limit]
    x = torch.from_numpy((images[pick].astype(np.float32) / 255.0 - 0.5) / 0.5).unsqueeze(1)
    y = torch.from_numpy(labels[pick].astype(np.int64))
    return torch.utils.data.TensorDataset(x, y)


def evaluate(net, data_loader, device):
    correct = 0
    total = 0
    # since we're not training, we don't need to calculate the gradients for our outputs
    with torch.no_grad():
        for data in data_loader:
            # (optional) use GPU to speed things up
            images, labels = data[0].to(device), data[1].to(device)
            outputs = net(images)
            _, predicted = torch.max(outputs.data, 1)
            total += labels.size(0)
            correct += (predicted == labels).sum().item()

        print(f"Accuracy of the network on the {total} test images: {100 * correct // total} %")
    return correct / total


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--batch_size", type=int, default=16)
    parser.add_argument("--train_samples", type=int, default=3000)
    parser.add_argument("--test_samples", type=int, default=1000)
    args = parser.parse_args()
    batch_size = args.batch_size
    epochs = args.epochs
    lr = 0.01
    model = SimpleNetwork()
    device = torch.device("cuda:0" if torch.cuda.is_available() else "cpu")
    loss = nn.CrossEntropyLoss()
    optimizer = SGD(model.parameters(), lr=lr, momentum=0.9)
    # Sites share the machine's cores in a simulation.
    torch.set_num_threads(1)

    # Load datasets: the site's Fashion-MNIST (Cohort's data_dir), a different subset at each site
    data_dir = flare.get_config().get("data_dir") or DATASET_PATH
    site_seed = zlib.crc32(flare.get_site_name().encode())
    train_set = fashion_mnist(data_dir, train=True, limit=args.train_samples, seed=site_seed)
    train_loader = torch.utils.data.DataLoader(train_set, batch_size=batch_size, shuffle=True)

    test_set = fashion_mnist(data_dir, train=False, limit=args.test_samples, seed=0)
    test_loader = torch.utils.data.DataLoader(test_set, batch_size=256, shuffle=False)

    # (3) initializes NVFlare client API
    flare.init()
    sys_info = flare.system_info()
    client_name = sys_info["site_name"]

    # (optional) metrics tracking
    summary_writer = SummaryWriter()

    while flare.is_running():
        # (4) receives FLModel from NVFlare
        input_model = flare.receive()
        print(f"site = {client_name}, current_round={input_model.current_round}")
        # (5) loads model from NVFlare
        model.load_state_dict(input_model.params)
        model.to(device)
        # (6) evaluate on received model for model selection
        accuracy = evaluate(model, test_loader, device)

        # (optional) Task branch for cross-site evaluation
        if flare.is_evaluate():
            print(f"site = {client_name}, running cross-site evaluation")
            # For CSE, just return the evaluation metrics without training
            output_model = flare.FLModel(metrics={"accuracy": accuracy})
            flare.send(output_model)
            continue

        steps = epochs * len(train_loader)
        for epoch in range(epochs):
            running_loss = 0.0
            for i, batch in enumerate(train_loader):
                images, labels = batch[0].to(device), batch[1].to(device)
                optimizer.zero_grad()

                predictions = model(images)
                cost = loss(predictions, labels)
                cost.backward()
                optimizer.step()

                running_loss += cost.item()
                if i % 100 == 99:
                    avg_loss = running_loss / 100
                    print(f"[{epoch + 1}, {i + 1:5d}] loss: {avg_loss:.3f}")

                    # Optional: Log metrics
                    global_step = input_model.current_round * steps + epoch * len(train_loader) + i
                    summary_writer.add_scalar(tag="loss", scalar=avg_loss, global_step=global_step)

                    print(f"site={client_name}, Epoch: {epoch}/{epochs}, Iteration: {i}, Loss: {running_loss}")
                    running_loss = 0.0

        print(f"Finished Training for {client_name}")

        PATH = "./fashion_net.pth"
        torch.save(model.state_dict(), PATH)

        # (7) construct trained FL model
        output_model = flare.FLModel(
            params=model.cpu().state_dict(),
            metrics={"accuracy": accuracy},
            meta={"NUM_STEPS_CURRENT_ROUND": steps},
        )
        print(f"site: {client_name}, sending model to server.")
        # (8) send model back to NVFlare
        flare.send(output_model)


if __name__ == "__main__":
    main()
