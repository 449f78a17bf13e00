"""The pretraining recipe: its hyper-parameters and version."""

from __future__ import annotations

from dataclasses import dataclass

PRETRAIN_VERSION = 1
"""Bump when the recipe changes, so a cached default backbone of the old recipe is not reused."""
OBJECTIVE = "mix-style NT-Xent (DeepAFx-ST style): positives = two crops of one mix, negatives include other mixes"

RENDER_STREAM, VAL_STREAM, BATCH_STREAM, PROBE_STREAM = range(4)
"""Independent random streams, all derived from the config's seed: ``default_rng([seed, stream, ...])``."""


@dataclass(frozen=True)
class PretrainConfig:
    """How to pretrain (the defaults take about 3 minutes on 2 CPU cores for the default corpus).

    Attributes:
        steps: Optimiser steps.
        batch_songs: Songs per batch (capped at the number of songs).
        batch_mixes: Mixes of each song per batch; the other mixes of a song are its hardest negatives.
        mixes_per_song: Mixes rendered per song: the ground truth, perturbations of it, ``random_mixes`` random ones.
        random_mixes: Of those, mixes with uniformly random settings (wide coverage of the settings space).
        perturb_sigma: Range of the per-mix noise scale on the normalised ground truth, drawn uniformly.
        crop_seconds: Length of each crop; validation crops have the same length.
        lr: Peak learning rate of AdamW (linear warm-up, then cosine decay to zero).
        weight_decay: AdamW weight decay.
        warmup_fraction: Share of the steps spent warming up.
        temperature: NT-Xent temperature.
        projection_dim: Output size of the projection head.
        grad_clip: Maximum gradient norm.
        probe_alpha: Ridge penalty of the settings probe, on standardised embeddings.
        render_workers: Threads rendering mixes (pedalboard releases the GIL).
        seed: Seeds everything: initial weights, dropout, mixes, batches, crops.
    """

    steps: int = 500
    batch_songs: int = 8
    batch_mixes: int = 4
    mixes_per_song: int = 6
    random_mixes: int = 1
    perturb_sigma: tuple[float, float] = (0.1, 0.8)
    crop_seconds: float = 2.0
    lr: float = 2e-3
    weight_decay: float = 1e-4
    warmup_fraction: float = 0.05
    temperature: float = 0.1
    projection_dim: int = 64
    grad_clip: float = 1.0
    probe_alpha: float = 10.0
    render_workers: int = 2
    seed: int = 0

    def __post_init__(self) -> None:
        if self.steps < 1:
            raise ValueError(f"steps must be at least 1, got {self.steps}")
        if self.batch_songs < 1:
            raise ValueError(f"batch_songs must be at least 1, got {self.batch_songs}")
        if not 1 <= self.random_mixes + 1 <= self.mixes_per_song:
            raise ValueError(
                f"mixes_per_song={self.mixes_per_song} must hold the ground truth and random_mixes={self.random_mixes}"
            )
        if not 1 <= self.batch_mixes <= self.mixes_per_song:
            raise ValueError(
                f"batch_mixes must be within [1, mixes_per_song={self.mixes_per_song}], got {self.batch_mixes}"
            )
        if not 0.0 <= self.perturb_sigma[0] <= self.perturb_sigma[1]:
            raise ValueError(f"perturb_sigma must be (low, high) with 0 <= low <= high, got {self.perturb_sigma}")
        if self.crop_seconds <= 0 or self.temperature <= 0 or self.lr <= 0:
            raise ValueError(
                f"crop_seconds, temperature and lr must be positive, got {self.crop_seconds}, {self.temperature}, "
                f"{self.lr}"
            )
        if self.render_workers < 1:
            raise ValueError(f"render_workers must be at least 1, got {self.render_workers}")


DEFAULT_PRETRAIN = PretrainConfig()
"""The recipe of the default backbone."""
