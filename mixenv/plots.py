"""Figures people would rather look at than read: spectrogram comparisons of mixes."""

from __future__ import annotations

import os
import textwrap
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from mixenv.data.atomic import atomic_path
from mixenv.features import FeatureConfig, logmel

if TYPE_CHECKING:
    from matplotlib.figure import Figure


def save_figure(fig: Figure, path: str | os.PathLike[str], dpi: int = 100) -> Path:
    """Write ``fig`` to ``path`` as PNG atomically (a crash leaves no half-written image) and close it."""
    import matplotlib.pyplot as plt

    out = Path(path)
    with atomic_path(out) as tmp:
        fig.savefig(tmp, dpi=dpi, format="png")
    plt.close(fig)
    return out


def plot_spectrograms(
    signals: Mapping[str, np.ndarray], sample_rate: int, path: str | os.PathLike[str], title: str = ""
) -> Path:
    """Stack log-mel spectrograms of ``(channels, samples)`` signals (channels averaged) into one PNG.

    The first signal is the reference for the difference panels: each later one also shows its dB difference
    to the first, red where it is louder, blue where it is quieter.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    config = FeatureConfig()
    mels = {label: 40.0 * (logmel(audio, sample_rate, config).mean(axis=0) - 1.0) for label, audio in signals.items()}
    first = next(iter(mels.values()))
    rows = len(mels)
    fig, axes = plt.subplots(
        rows, 2, figsize=(12, 1.5 + 1.7 * rows), squeeze=False, sharex=True, sharey=True, layout="constrained"
    )
    seconds = first.shape[1] * config.hop_seconds
    extent = (0.0, seconds, 0, config.n_mels)
    for row, (label, mel) in enumerate(mels.items()):
        image = axes[row, 0].imshow(mel, origin="lower", aspect="auto", extent=extent, vmin=-80, vmax=0, cmap="magma")
        axes[row, 0].set_ylabel(f"{textwrap.fill(label, 24)}\nmel band", fontsize=8)  # long names: several lines
        if row == 0:
            axes[row, 1].axis("off")
            axes[row, 1].text(0.5, 0.5, "difference panels:\nmix minus " + label, ha="center", va="center")
            continue
        diff = axes[row, 1].imshow(
            mel - first, origin="lower", aspect="auto", extent=extent, vmin=-12, vmax=12, cmap="RdBu_r"
        )
    fig.colorbar(image, ax=axes[:, 0], label="dB re full scale", shrink=0.5, aspect=30)
    if rows > 1:
        fig.colorbar(diff, ax=axes[:, 1], label="dB difference", shrink=0.5, aspect=30)
    for ax in axes[-1]:
        ax.set_xlabel("seconds")
    fig.suptitle(title)
    return save_figure(fig, path)
