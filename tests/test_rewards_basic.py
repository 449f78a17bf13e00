"""Spectral and loudness reward terms, and the composite: meaning tested with numbers."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import torch

from mixenv.loudness import integrated_lufs
from rewards.base import ScoreContext
from rewards.composite import CompositeReward
from rewards.loudness import LoudnessReward
from rewards.spectral import SpectralDistance, SpectralReward

from conftest import SR, noise, tone


@pytest.fixture(scope="module")
def music() -> np.ndarray:
    return noise(3.0, 0.1, channels=2) + tone(220, 3.0, 0.2, channels=2)


def test_spectral_distance_equals_auraloss(music: np.ndarray) -> None:
    metric = SpectralDistance()
    other = 0.6 * music + noise(3.0, 0.01, channels=2, seed=5)
    with torch.inference_mode():
        expected = float(metric.loss(torch.tensor(other)[None], torch.tensor(music)[None]))
    assert metric.distance(other, music) == pytest.approx(expected, rel=1e-5)


def test_spectral_is_zero_at_the_reference_and_grows_with_gain_error(music: np.ndarray) -> None:
    reward, context = SpectralReward(), ScoreContext(SR, music)
    assert reward.score(music, context) == pytest.approx(0.0, abs=1e-6)
    scores = [reward.score(music * 10 ** (db / 20), context) for db in (1, 3, 6, 12)]
    assert all(a > b for a, b in itertools.pairwise(scores))


def test_spectral_needs_a_reference(music: np.ndarray) -> None:
    with pytest.raises(ValueError, match="needs a reference"):
        SpectralReward().score(music, ScoreContext(SR))


def test_loudness_reward_is_highest_at_the_target(music: np.ndarray) -> None:
    reward = LoudnessReward(target_lufs=-14.0)
    context = ScoreContext(SR)
    level = integrated_lufs(music, SR)
    scores = {db: reward.score(music * 10 ** ((db - level) / 20), context) for db in (-20, -17, -14, -11, -8)}
    assert max(scores, key=scores.get) == -14
    assert scores[-14] == pytest.approx(0.0, abs=0.01)
    assert scores[-20] == pytest.approx(-6.0, abs=0.05)
    assert not reward.needs_reference


def test_loudness_reward_matches_the_reference_when_untargeted(music: np.ndarray) -> None:
    reward, context = LoudnessReward(), ScoreContext(SR, music)
    assert reward.needs_reference
    assert reward.score(music * 0.5, context) == pytest.approx(-6.02, abs=0.05)


def test_silence_scores_finitely(music: np.ndarray) -> None:
    context = ScoreContext(SR, music)
    silence = np.zeros_like(music)
    assert np.isfinite(SpectralReward().score(silence, context))
    assert LoudnessReward().score(silence, context) == -40.0  # the error is capped, so silence is finite


def test_composite_weights_and_reports_each_term(music: np.ndarray) -> None:
    spectral, loudness = SpectralReward(), LoudnessReward()
    composite = CompositeReward({spectral: 1.0, loudness: 0.5})
    context = ScoreContext(SR, music)
    scores = composite.scores(music * 0.5, context)
    assert set(scores) == {"spectral", "loudness"}
    assert composite.score(music * 0.5, context) == pytest.approx(scores["spectral"] + 0.5 * scores["loudness"])
    assert composite.needs_reference


class _Broken:
    name, needs_reference = "broken", False

    def score(self, mix: np.ndarray, context: ScoreContext) -> float:
        return float("nan")


def test_composite_never_returns_nan(music: np.ndarray) -> None:
    composite = CompositeReward({_Broken(): 1.0, LoudnessReward(-14.0): 1.0})
    assert np.isfinite(composite.score(music, ScoreContext(SR)))


@pytest.mark.parametrize("weight", [-1.0, float("nan"), float("inf")])
def test_composite_refuses_bad_weights(weight: float) -> None:
    with pytest.raises(ValueError, match="finite and >= 0"):
        CompositeReward({LoudnessReward(-14.0): weight})
