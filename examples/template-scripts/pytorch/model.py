"""A small CNN for Fashion-MNIST (28 x 28 grey images, 10 classes): FLARE's hello-pt uses a CIFAR-10
network of the same shape. No BatchNorm: its integer buffer would not fit Cohort's float32 models."""

import torch
import torch.nn.functional as F
from torch import nn


class SimpleNetwork(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 8, 5)
        self.pool = nn.MaxPool2d(2, 2)
        self.conv2 = nn.Conv2d(8, 16, 5)
        self.fc1 = nn.Linear(16 * 4 * 4, 64)
        self.fc2 = nn.Linear(64, 10)

    def forward(self, x):
        x = self.pool(F.relu(self.conv1(x)))
        x = self.pool(F.relu(self.conv2(x)))
        x = torch.flatten(x, 1)
        x = F.relu(self.fc1(x))
        return self.fc2(x)
