"""Evaluation metrics of a finished mix, shared by the env's evaluations, the supervised ones and the benchmarks.

One function, :func:`mix_metrics`, so every method in a benchmark is measured by exactly the same code:
multi-resolution STFT distance to the reference, loudness error, loudness-range error, the automix-toolkit's audio
feature error (:mod:`rewards.audio_features`), how far the true peak goes over -1 dBTP, per-clip FAD and anomaly
score against the good-mix model, and parameter error against the ground truth where a song has one. Lower is
better for all; each is 0 for a mix identical to its reference (FAD and anomaly: for a mix like the good ones).
:func:`clip_metrics` adds each control's signed error, and :class:`ClipScorer` renders a
:class:`~mixenv.clip.Clip` under settings and measures it: the evaluation end of the one clip-render-score path.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

import numpy as np

from mixenv.clip import Clip, ClipRenderer
from mixenv.loudness import loudness_range, true_peak_dbtp
from mixenv.params import MixSettings, ParamSpace
from mixenv.render import gain_staging
from rewards.anomaly import AnomalyReward
from rewards.audio_features import feature_errors
from rewards.base import RewardTerm, ScoreContext
from rewards.fad import FADReward
from rewards.spectral import SpectralReward

T = TypeVar("T")

METRICS: tuple[str, ...] = (
    "mrstft",
    "lufs_error",
    "lra_error",
    "feature_error",
    "true_peak_over",
    "fad",
    "anomaly",
    "param_mae",
    "param_audible",
    "param_mse",
)
"""Metric names, in table order; lower is better for every one."""
TRUE_PEAK_CEILING_DBTP = -1.0
"""The true-peak ceiling of streaming services' delivery specs: ``true_peak_over`` counts the dB above it."""


@dataclass(frozen=True)
class MetricSuite:
    """The scorers behind :func:`mix_metrics`; build once, reuse for every song."""

    spectral: SpectralReward
    fad: FADReward | None = None
    anomaly: AnomalyReward | None = None
    control_weights: Mapping[str, float] | None = None
    """Per control, the weight of its error in ``param_audible`` (a :class:`rewards.sensitivity.Sensitivity`'s
    ``sensitivity``); without them that metric is left out."""

    @classmethod
    def of_reward(cls, terms: Iterable[RewardTerm], control_weights: Mapping[str, float] | None = None) -> MetricSuite:
        """The suite of a reward's own terms (so an env's metrics and rewards cannot drift apart)."""
        by_name = {t.name: t for t in terms}
        spectral = by_name.get("spectral")
        return cls(
            spectral if isinstance(spectral, SpectralReward) else SpectralReward(),
            _typed(by_name.get("fad"), FADReward),
            _typed(by_name.get("anomaly"), AnomalyReward),
            control_weights,
        )


def parameter_errors(
    predicted: MixSettings, truth: MixSettings, roles: Iterable[str] | None = None
) -> dict[str, float]:
    """Mean absolute and squared error in normalised units over the controls of ``roles`` and the master bus.

    Controls of a role the song lacks have no effect, so they are left out when ``roles`` names the present ones.
    """
    diff = _signed_errors(predicted, truth, roles)[1]
    return {"param_mae": float(np.mean(np.abs(diff))), "param_mse": float(np.mean(diff**2))}


def audible_parameter_error(errors: Mapping[str, float], weights: Mapping[str, float]) -> float:
    """Mean absolute error per control weighted by how much the control moves the mix (normalised units).

    ``errors``: signed error per control (:func:`control_errors`; :func:`mix_metrics` takes them from the
    :func:`nearest_equivalent` settings); ``weights``: each control's sensitivity
    (:class:`rewards.sensitivity.Sensitivity`). Controls without a weight, or weighing 0, do not count. 0 for
    settings that sound like the truth's; an error on a control nobody can hear (a compressor's ratio while its
    threshold is above the signal) costs next to nothing, one on the faders costs its full size. Lower is better.

    Raises:
        ValueError: If no control of ``errors`` has a positive weight.
    """
    pairs = [(abs(error), weights[name]) for name, error in errors.items() if weights.get(name, 0.0) > 0]
    if not pairs:
        raise ValueError("no control of these errors has a sensitivity weight; measure them on this corpus first")
    return float(sum(e * w for e, w in pairs) / sum(w for _, w in pairs))


def nearest_equivalent(
    predicted: MixSettings, truth: MixSettings, roles: Iterable[str], weights: Mapping[str, float]
) -> MixSettings:
    """``predicted`` moved along its gain staging to where its weighted error against ``truth`` is least.

    Every fader, the bus compressor's threshold and the limiter's threshold raised by one amount render the same
    mix (:func:`mixenv.render.gain_staging`), so settings that differ from the truth only so are not wrong, and
    the ones that differ otherwise are judged from their closest equivalent: the shift is the weighted median of
    the truth's offsets on those controls (weights: ``weights`` per normalised unit, times normalised units per
    dB), kept where every control stays within its range.

    Why: the corpus draws its limiter's drive apart from the faders, while loudness matching puts the gain a mix
    needs into the drive first; control by control, one and the same mix then read as an error on the limiter
    and on every fader (the balance-matched default model on the validation split: audible error 0.138 control
    by control, 0.113 from the nearest equivalent; predict-the-mean 0.224 and 0.204).
    """
    space = truth.space
    names = gain_staging(roles)
    index = [space.index(name) for name in names]
    low = np.array([space.controls[i].low for i in index])
    high = np.array([space.controls[i].high for i in index])
    pull = np.array([weights.get(name, 0.0) for name in names]) * 2.0 / (high - low)  # per dB of error
    if not pull.any():
        return predicted
    current = predicted.values[index]
    offsets = truth.values[index] - current
    order = np.argsort(offsets)
    cumulative = np.cumsum(pull[order])
    shift = offsets[order][np.searchsorted(cumulative, cumulative[-1] / 2)]
    shift = float(np.clip(shift, np.max(low - current), np.min(high - current)))
    return predicted.replace({name: value + shift for name, value in zip(names, current, strict=True)})


def control_errors(predicted: MixSettings, truth: MixSettings, roles: Iterable[str]) -> dict[str, float]:
    """Signed error in normalised units of each control of ``roles`` and of the master bus, by flat name."""
    names, errors = _signed_errors(predicted, truth, roles)
    return {name: float(error) for name, error in zip(names, errors, strict=True)}


def mix_metrics(
    suite: MetricSuite,
    mix: np.ndarray,
    sample_rate: int,
    *,
    reference: np.ndarray | None = None,
    predicted: MixSettings | None = None,
    truth: MixSettings | None = None,
    roles: Iterable[str] | None = None,
    stems: Mapping[str, np.ndarray] | None = None,
    context: ScoreContext | None = None,
) -> dict[str, float]:
    """Every metric that applies to ``mix`` ``(2, samples)``; missing inputs leave their metrics out.

    Returns a dict with keys from :data:`METRICS`: ``mrstft``, ``lufs_error`` (absolute, LU), ``lra_error``
    (absolute loudness-range difference, LU) and ``feature_error`` (mean absolute percentage error of the audio
    features, as a fraction) need the reference; ``true_peak_over`` (dB above -1 dBTP, 0 if under) is always
    there; ``fad`` and ``anomaly`` need the suite's good-mix terms (``anomaly`` also the ``stems`` the mix is made
    of), ``param_*`` both settings (``param_audible`` also the suite's control weights). ``context``: a score
    context that already holds this reference, these stems and this mix (an env's), so nothing is computed twice.
    """
    context = context or ScoreContext(sample_rate, reference, stems)
    out: dict[str, float] = {}
    if reference is not None:
        out["mrstft"] = -suite.spectral.score(mix, context)
        out["lufs_error"] = abs(context.mix_lufs(mix) - context.reference_lufs())
        out["lra_error"] = abs(loudness_range(mix, sample_rate) - loudness_range(reference, sample_rate))
        out["feature_error"] = feature_errors(mix, reference, sample_rate)["feature_error"]
    out["true_peak_over"] = max(0.0, true_peak_dbtp(mix, sample_rate) - TRUE_PEAK_CEILING_DBTP)
    if suite.fad is not None:
        out["fad"] = -suite.fad.score(mix, context)
    if suite.anomaly is not None and context.stems is not None:
        out["anomaly"] = -suite.anomaly.score(mix, context)
    if predicted is not None and truth is not None:
        present = tuple(truth.space.roles if roles is None else roles)
        out.update(parameter_errors(predicted, truth, present))
        if suite.control_weights is not None:
            heard = nearest_equivalent(predicted, truth, present, suite.control_weights)
            errors = dict(zip(*_signed_errors(heard, truth, present), strict=True))
            out["param_audible"] = audible_parameter_error(errors, suite.control_weights)
    return out


def clip_metrics(
    suite: MetricSuite,
    clip: Clip,
    mix: np.ndarray,
    settings: MixSettings,
    context: ScoreContext | None = None,
) -> dict[str, Any]:
    """Every metric of ``mix``, the clip rendered under ``settings``, and (where the song has a ground truth) each
    control's signed error under ``"errors"``."""
    excerpt = clip.excerpt
    row: dict[str, Any] = mix_metrics(
        suite,
        mix,
        clip.sample_rate,
        reference=excerpt.reference,
        predicted=settings,
        truth=excerpt.settings,
        roles=excerpt.roles,
        stems=excerpt.stems,
        context=context,
    )
    if excerpt.settings is not None:
        row["errors"] = control_errors(settings, excerpt.settings, excerpt.roles)
    return row


class ClipScorer:
    """Renders a clip under normalised settings and measures the mix with :func:`clip_metrics`.

    Args:
        suite: The metric suite.
        space: Layout of the settings vectors.
    """

    def __init__(self, suite: MetricSuite, space: ParamSpace) -> None:
        self.suite, self.space = suite, space
        self.renderer = ClipRenderer(space.roles)

    def __call__(self, clip: Clip, normalized: np.ndarray) -> dict[str, Any]:
        """Every metric (and the per-control errors) of the clip's mix under ``normalized`` settings."""
        settings = self.space.to_physical(normalized)
        return clip_metrics(self.suite, clip, self.renderer.render(clip, settings).mix, settings)


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


def _signed_errors(
    predicted: MixSettings, truth: MixSettings, roles: Iterable[str] | None
) -> tuple[list[str], np.ndarray]:
    """Names and normalised errors of the controls of ``roles`` (all roles for ``None``) and the master bus."""
    if predicted.space != truth.space:
        raise ValueError(f"settings of different layouts: {predicted.space} vs {truth.space}")
    space = truth.space
    mask = space.controls_of(roles if roles is not None else space.roles)
    diff = (predicted.normalized().astype(np.float64) - truth.normalized())[mask]
    return [name for name, keep in zip(space.names, mask, strict=True) if keep], diff


def _typed(term: RewardTerm | None, kind: type[T]) -> T | None:
    return term if isinstance(term, kind) else None
