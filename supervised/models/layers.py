"""Small building blocks the models share."""

from __future__ import annotations

import math

import torch
from torch import nn


def mlp(in_features: int, width: int, depth: int, out_features: int, dropout: float) -> nn.Sequential:
    """``depth`` hidden layers of ``width`` (Linear, GELU, Dropout), then a linear output layer."""
    layers: list[nn.Module] = []
    for _ in range(depth):
        layers += [nn.Linear(in_features, width), nn.GELU(), nn.Dropout(dropout)]
        in_features = width
    layers.append(nn.Linear(in_features, out_features))
    return nn.Sequential(*layers)


def sinusoid(length: int, dim: int) -> torch.Tensor:
    """Transformer sine/cosine positions ``(length, dim)``: any clip length, nothing to learn."""
    position = torch.arange(length, dtype=torch.float32)[:, None]
    frequency = torch.exp(torch.arange(0, dim, 2, dtype=torch.float32) * (-math.log(10_000.0) / dim))
    table = torch.zeros(length, dim)
    table[:, 0::2] = torch.sin(position * frequency)
    table[:, 1::2] = torch.cos(position * frequency[: dim // 2])
    return table
