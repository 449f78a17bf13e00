"""The contrastive objective and its training loop: NT-Xent on two crops of one mix, SimCLR's projection head."""

from __future__ import annotations

import functools
import math
from collections.abc import Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from tqdm.auto import tqdm

from mixenv.backbone import Backbone
from mixenv.pretrain.bank import MixBank
from mixenv.pretrain.config import BATCH_STREAM, PretrainConfig

_LOSS_CURVE_POINTS = 20


def _projection_head(embedding_dim: int, projection_dim: int) -> nn.Module:
    """The SimCLR head: the loss acts on its output, the backbone's embedding keeps more of the signal."""
    return nn.Sequential(nn.Linear(embedding_dim, embedding_dim), nn.GELU(), nn.Linear(embedding_dim, projection_dim))


def train_backbone(
    backbone: Backbone,
    bank: MixBank,
    config: PretrainConfig,
    crop_frames: int,
    progress: bool,
    stop_after: int | None = None,
) -> list[float]:
    """Optimise ``backbone`` in place (with a throwaway head); returns the loss of every step.

    ``stop_after`` trains only the first steps of the recipe, on its whole schedule (so they are the very first steps
    of a whole run: a run's start can be checked against a record without the rest)."""
    head = _projection_head(backbone.embedding_dim, config.projection_dim)
    backbone.train()
    head.train()
    parameters = [*backbone.parameters(), *head.parameters()]
    optimizer = torch.optim.AdamW(parameters, lr=config.lr, weight_decay=config.weight_decay)
    warmup = max(1, round(config.warmup_fraction * config.steps))
    schedule = torch.optim.lr_scheduler.LambdaLR(
        optimizer, functools.partial(_lr_factor, warmup=warmup, total=config.steps)
    )
    rng = np.random.default_rng([config.seed, BATCH_STREAM])
    losses = []
    steps = config.steps if stop_after is None else min(stop_after, config.steps)
    with tqdm(range(steps), desc="pretraining backbone", unit="step", disable=not progress) as bar:
        for _ in bar:
            view_a, view_b = _batch(bank, config, crop_frames, rng)
            loss = _nt_xent(head(backbone(view_a).embedding), head(backbone(view_b).embedding), config.temperature)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            nn.utils.clip_grad_norm_(parameters, config.grad_clip)
            optimizer.step()
            schedule.step()
            losses.append(loss.item())
            bar.set_postfix(loss=f"{losses[-1]:.3f}", refresh=False)
    return losses


def _lr_factor(step: int, warmup: int, total: int) -> float:
    """Linear warm-up to the peak learning rate, then cosine decay to zero."""
    if step < warmup:
        return (step + 1) / warmup
    return 0.5 * (1.0 + math.cos(math.pi * (step - warmup) / max(1, total - warmup)))


def _batch(
    bank: MixBank, config: PretrainConfig, crop_frames: int, rng: np.random.Generator
) -> tuple[torch.Tensor, torch.Tensor]:
    """Two views ``(batch, 2, n_mels, crop_frames)``: row ``i`` of each is a crop of the same mix.

    Within a song both crop positions are shared by all its mixes, so its other mixes are negatives with the very
    same notes: only the mix tells them apart.
    """
    views_a, views_b = [], []
    for song in rng.choice(len(bank.logmels), min(config.batch_songs, len(bank.logmels)), replace=False):
        logmel = bank.logmels[song]
        mixes = torch.as_tensor(rng.choice(logmel.shape[0], config.batch_mixes, replace=False))
        a, b = rng.integers(0, logmel.shape[-1] - crop_frames + 1, size=2)
        views_a.append(logmel[mixes, ..., a : a + crop_frames])
        views_b.append(logmel[mixes, ..., b : b + crop_frames])
    return torch.cat(views_a).float(), torch.cat(views_b).float()


def _nt_xent(z_a: torch.Tensor, z_b: torch.Tensor, temperature: float) -> torch.Tensor:
    """NT-Xent (SimCLR): each of the ``2 * batch`` projections must pick its partner among all the others."""
    z = F.normalize(torch.cat([z_a, z_b]), dim=1)
    n = z_a.shape[0]
    logits = (z @ z.T / temperature).masked_fill(torch.eye(2 * n, dtype=torch.bool), float("-inf"))
    partners = torch.cat([torch.arange(n, 2 * n), torch.arange(n)])
    return F.cross_entropy(logits, partners)


def loss_curve(losses: Sequence[float]) -> list[float]:
    """Mean loss over (at most) 20 consecutive, equal-as-possible chunks of the steps."""
    chunks = np.array_split(np.asarray(losses), min(_LOSS_CURVE_POINTS, len(losses)))
    return [round(float(chunk.mean()), 4) for chunk in chunks]
