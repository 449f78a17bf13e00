"""Evaluation metrics of a finished mix, shared by the agents' and the supervised models' evaluations.

One function, :func:`mix_metrics`, so every method in a benchmark is measured by exactly the same code:
multi-resolution STFT distance to the reference, loudness error, per-clip FAD and anomaly score against the
good-mix model, and parameter error against the ground truth where a song has one. Lower is better for all.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from mixenv.params import MixSettings
from rewards.anomaly import AnomalyReward
from rewards.base import ScoreContext
from rewards.fad import FADReward
from rewards.spectral import SpectralReward

METRICS: tuple[str, ...] = ("mrstft", "lufs_error", "fad", "anomaly", "param_mae", "param_mse")
"""Metric names, in table order; lower is better for every one."""


@dataclass(frozen=True)
class MetricSuite:
    """The scorers behind :func:`mix_metrics`; build once, reuse for every song."""

    spectral: SpectralReward
    fad: FADReward | None = None
    anomaly: AnomalyReward | None = None

    @classmethod
    def default(cls, backbone_path: str | None = None, good_mix_path: str | None = None) -> MetricSuite:
        """With the default backbone and good-mix model (made on first use), or the given files."""
        from rewards.goodmix import good_mix_terms

        fad, anomaly = good_mix_terms(backbone_path, model_path=good_mix_path)
        return cls(SpectralReward(), fad, anomaly)


def parameter_errors(
    predicted: MixSettings, truth: MixSettings, roles: Iterable[str] | None = None
) -> dict[str, float]:
    """Mean absolute and squared error in normalised units over the controls of ``roles`` and the master bus.

    Controls of a role the song lacks have no effect, so they are left out when ``roles`` names the present ones.
    """
    if predicted.space != truth.space:
        raise ValueError(f"settings of different layouts: {predicted.space} vs {truth.space}")
    space = truth.space
    mask = space.controls_of(roles if roles is not None else space.roles)
    diff = (predicted.normalized().astype(np.float64) - truth.normalized())[mask]
    return {"param_mae": float(np.mean(np.abs(diff))), "param_mse": float(np.mean(diff**2))}


def mix_metrics(
    suite: MetricSuite,
    mix: np.ndarray,
    sample_rate: int,
    *,
    reference: np.ndarray | None = None,
    predicted: MixSettings | None = None,
    truth: MixSettings | None = None,
    roles: Iterable[str] | None = None,
) -> dict[str, float]:
    """Every metric that applies to ``mix`` ``(2, samples)``; missing inputs leave their metrics out.

    Returns a dict with keys from :data:`METRICS`: ``mrstft`` and ``lufs_error`` (absolute, LU) need the
    reference, ``fad`` and ``anomaly`` the suite's good-mix terms, ``param_*`` both settings.
    """
    context = ScoreContext(sample_rate, reference)
    out: dict[str, float] = {}
    if reference is not None:
        out["mrstft"] = -suite.spectral.score(mix, context)
        out["lufs_error"] = abs(context.mix_lufs(mix) - context.reference_lufs())
    if suite.fad is not None:
        out["fad"] = -suite.fad.score(mix, context)
    if suite.anomaly is not None:
        out["anomaly"] = -suite.anomaly.score(mix, context)
    if predicted is not None and truth is not None:
        out.update(parameter_errors(predicted, truth, roles))
    return out


def summarize(rows: Sequence[Mapping[str, float]]) -> dict[str, dict[str, float]]:
    """Mean and standard deviation of each metric over rows (songs, or seeds), ignoring rows that lack it."""
    summary = {}
    for name in METRICS:
        values = [float(r[name]) for r in rows if name in r and math.isfinite(r[name])]
        if values:
            summary[name] = {
                "mean": statistics.fmean(values),
                "std": statistics.pstdev(values) if len(values) > 1 else 0.0,
                "n": len(values),
            }
    return summary
