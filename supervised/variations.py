"""How different the mixes a generative model samples are, and how good: settings spread and scored renders.

A CVAE (:class:`~supervised.models.cvae.SettingsCVAE`) draws several settings per clip; :func:`settings_spread`
and :func:`pairwise_distance` measure how different they are, :func:`evaluate_variations` renders and scores each
in MixEnv, on the clips of given episodes, with the metrics the benchmark measures every method with.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch

from mixenv.env import MixEnv
from rewards.metrics import METRICS, MetricSuite
from supervised.checkpoint import LoadedModel
from supervised.data import target_mask
from supervised.inputs import batch_inputs, clip_logmels
from supervised.models.cvae import SettingsCVAE


def settings_spread(samples: np.ndarray, mask: np.ndarray | None = None) -> float:
    """Mean over controls of the standard deviation across samples ``(n, params)``, in normalised units.

    Controls where ``mask`` is 0 (absent roles) are left out; 0 for identical samples.
    """
    std = np.asarray(samples, np.float64).std(axis=0)
    return float(std.mean() if mask is None else std[np.asarray(mask) > 0].mean())


def pairwise_distance(samples: np.ndarray, mask: np.ndarray | None = None) -> float:
    """Mean absolute difference between two different samples, over controls (``mask`` as in settings_spread)."""
    x = np.asarray(samples, np.float64)
    if mask is not None:
        x = x[:, np.asarray(mask) > 0]
    n = len(x)
    if n < 2:
        raise ValueError(f"pairwise distance needs at least two samples, got {n}")
    diffs = np.abs(x[:, None] - x[None]).mean(axis=-1)
    return float(diffs.sum() / (n * (n - 1)))


def evaluate_variations(
    loaded: LoadedModel,
    env: MixEnv,
    episodes: Sequence[tuple[str, int]],
    suite: MetricSuite | None = None,
    samples: int = 8,
    seed: int = 0,
) -> list[dict[str, Any]]:
    """Draw ``samples`` settings for the clip of each episode (song, episode seed) of ``env``, render and score each
    there (:meth:`mixenv.env.MixEnv.measure` with ``suite``); one row per clip.

    The clips are those the env's episodes mix, so the samples are measured on the very clips, with the very
    metrics, as :func:`agents.episodes.evaluate_song` measures a method's final mix of those episodes.

    A row holds the song, its episode seed, each metric averaged over the samples (quality), ``spread`` and
    ``pairwise`` (diversity, over the present roles' and the master's controls, see :func:`settings_spread`) and
    ``samples``.

    Raises:
        TypeError: If the model is not a :class:`SettingsCVAE`.
        ValueError: If ``env`` takes moves rather than whole settings.
    """
    model = loaded.module
    if not isinstance(model, SettingsCVAE):
        raise TypeError(f"variations need a cvae model, got {model.config.name!r}; train one with --model cvae")
    if env.unwrapped.action_mode != "absolute":
        raise ValueError("sample variations in an env of absolute actions: a sample is whole settings")
    generator = torch.Generator().manual_seed(seed)
    rows = []
    for song, episode_seed in episodes:
        env.reset(seed=episode_seed, options={"song": song})
        logmels = clip_logmels(env.unwrapped.clip, model.space.roles, loaded.features)
        inputs = batch_inputs([logmels], use_reference=False)
        with torch.inference_mode():
            drawn = model.sample(inputs.stems, inputs.presence, samples, generator)[0].numpy()
        scores = []
        for settings in drawn:  # each sample from the episode's start: the same clip under its settings
            env.reset(seed=episode_seed, options={"song": song})
            env.step(settings)
            scores.append(env.unwrapped.measure(suite))
        mask = target_mask(model.space, inputs.presence[0].numpy())
        row: dict[str, Any] = {"song": song, "episode_seed": episode_seed, "samples": samples}
        row |= {m: float(np.mean([s[m] for s in scores])) for m in METRICS if m in scores[0]}
        row |= {"spread": settings_spread(drawn, mask), "pairwise": pairwise_distance(drawn, mask)}
        rows.append(row)
    return rows
