"""Fréchet distance, shrinkage statistics, FAD-∞ and the FAD reward, with numbers."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from mixenv.backbone import AudioEmbedder, Backbone, BackboneCheckpoint
from mixenv.data import list_songs
from mixenv.features import FeatureConfig
from mixenv.render import Renderer
from rewards.anomaly import AnomalyDetector, AnomalyReward
from rewards.base import ScoreContext
from rewards.corrupt import CORRUPTIONS
from rewards.descriptors import DESCRIPTORS
from rewards.fad import FADReward, GaussianStats, evaluate_fad, extrapolate_fad, frechet_distance

from conftest import SR, noise, tone

D = 16


@pytest.fixture(scope="module")
def embedder() -> AudioEmbedder:
    torch.manual_seed(0)
    return AudioEmbedder(BackboneCheckpoint(Backbone(), FeatureConfig(), SR), SR)


def _gaussian_set(n: int = 4000, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal((n, D))


def test_fad_of_a_set_with_itself_is_zero() -> None:
    stats = GaussianStats.fit(_gaussian_set())
    assert frechet_distance(stats, stats) == pytest.approx(0.0, abs=1e-9)


def test_fad_of_a_shifted_set_is_the_squared_shift() -> None:
    x = _gaussian_set()
    base = GaussianStats.fit(x)
    fads = [frechet_distance(base, GaussianStats.fit(x + shift)) for shift in (0.25, 0.5, 1.0, 2.0)]
    np.testing.assert_allclose(fads, [D * s**2 for s in (0.25, 0.5, 1.0, 2.0)], rtol=1e-6)


def test_fad_grows_monotonically_with_scale() -> None:
    x = _gaussian_set()
    x -= x.mean(axis=0)
    base = GaussianStats.fit(x, shrink=False)
    fads = [frechet_distance(base, GaussianStats.fit(x * scale, shrink=False)) for scale in (1.0, 1.5, 2.0, 3.0)]
    # Same shape, covariance scaled by s^2: FAD = tr(C) (s - 1)^2.
    np.testing.assert_allclose(fads, [np.trace(base.cov) * (s - 1) ** 2 for s in (1.0, 1.5, 2.0, 3.0)], atol=1e-8)


def test_fad_is_symmetric() -> None:
    rng = np.random.default_rng(1)
    a = GaussianStats.fit(rng.standard_normal((300, D)) @ rng.standard_normal((D, D)))
    b = GaussianStats.fit(rng.standard_normal((300, D)) * 2.0 + 1.0)
    assert frechet_distance(a, b) == pytest.approx(frechet_distance(b, a), rel=1e-9)


def test_fad_is_finite_and_non_negative_with_rank_deficient_covariances() -> None:
    rng = np.random.default_rng(2)
    a = GaussianStats.fit(rng.standard_normal((5, D)), shrink=False)  # rank 4 of 16
    b = GaussianStats.fit(np.zeros((3, D)), shrink=False)  # rank 0
    assert np.linalg.matrix_rank(a.cov) == 4
    fad = frechet_distance(a, b)
    assert np.isfinite(fad) and fad > 0
    assert frechet_distance(a, a) == pytest.approx(0.0, abs=1e-9)


def test_shrinkage_covariance_is_well_conditioned_and_closer_to_the_truth_for_few_samples() -> None:
    x = _gaussian_set(n=12, seed=3)  # fewer samples than dimensions
    shrunk, plain = GaussianStats.fit(x).cov, GaussianStats.fit(x, shrink=False).cov
    assert np.linalg.eigvalsh(shrunk).min() > 0.1
    assert np.linalg.norm(shrunk - np.eye(D)) < 0.5 * np.linalg.norm(plain - np.eye(D))


def test_non_finite_embeddings_are_refused() -> None:
    x = _gaussian_set(n=10)
    x[3, 2] = np.nan
    with pytest.raises(ValueError, match="NaN or infinite"):
        GaussianStats.fit(x)


def test_extrapolation_recovers_the_intercept_of_a_over_n_curve() -> None:
    sizes = [100, 200, 400, 800, 1600]
    intercept, slope = extrapolate_fad(sizes, [3.0 + 500.0 / n for n in sizes])
    assert intercept == pytest.approx(3.0, abs=1e-9)
    assert slope == pytest.approx(500.0, rel=1e-9)


def test_fad_inf_removes_the_small_sample_bias() -> None:
    truth = GaussianStats(np.zeros(D), np.eye(D), 10**9)
    estimate = evaluate_fad(truth, _gaussian_set(n=400, seed=4), seed=0)
    assert estimate.fad > 0.2  # the plain estimate is biased upwards (about D^2 / 2n)
    assert abs(estimate.fad_inf) < 0.3 * estimate.fad
    assert list(estimate.values) == sorted(estimate.values, reverse=True)


def test_fad_inf_is_seeded() -> None:
    truth = GaussianStats(np.zeros(D), np.eye(D), 10**9)
    x = _gaussian_set(n=300, seed=5)
    assert evaluate_fad(truth, x, seed=3) == evaluate_fad(truth, x, seed=3)


def _frames(embedder: AudioEmbedder, mixes: list[np.ndarray]) -> np.ndarray:
    return np.concatenate([embedder(m)[1] for m in mixes])


@pytest.fixture(scope="module")
def corpus_mixes(tiny_corpus: Path) -> dict[str, list[tuple]]:
    """Per song: (stems, settings) of its first and second 1.5 s halves."""
    halves = {"first": [], "second": []}
    for ref in list_songs("synthetic", tiny_corpus):
        song = ref.load()
        n = song.num_samples // 2
        for key, start in (("first", 0), ("second", n)):
            part = song.segment(start, n)
            halves[key].append((part.stems, part.settings))
    return halves


@pytest.mark.parametrize("name", ["clipping", "muted_lead"])
def test_fad_of_good_halves_is_small_and_grows_with_corruption_strength(
    embedder: AudioEmbedder, corpus_mixes: dict[str, list[tuple]], name: str
) -> None:
    """An untrained backbone already sees clipping and a missing lead (not the subtler defects: see the report)."""
    renderer = Renderer(SR)
    first = GaussianStats.fit(_frames(embedder, [renderer.render(s, g).mix for s, g in corpus_mixes["first"]]))
    fads = []
    for strength in (0.0, 0.5, 1.0):
        mixes = [
            CORRUPTIONS[name](s, g, renderer, np.random.default_rng(i), strength)
            for i, (s, g) in enumerate(corpus_mixes["second"])
        ]
        fads.append(frechet_distance(first, GaussianStats.fit(_frames(embedder, mixes))))
    assert fads[0] < fads[1] < fads[2]


def test_fad_of_good_halves_is_near_zero_next_to_a_clipped_set(
    embedder: AudioEmbedder, corpus_mixes: dict[str, list[tuple]]
) -> None:
    renderer = Renderer(SR)
    first = GaussianStats.fit(_frames(embedder, [renderer.render(s, g).mix for s, g in corpus_mixes["first"]]))
    second = [renderer.render(s, g).mix for s, g in corpus_mixes["second"]]
    clipped = [np.clip(m * 4.0, -1.0, 1.0) for m in second]
    good_fad = frechet_distance(first, GaussianStats.fit(_frames(embedder, second)))
    assert good_fad < 0.3 * frechet_distance(first, GaussianStats.fit(_frames(embedder, clipped)))


def test_fad_reward_is_finite_for_silence_and_clipped_audio(embedder: AudioEmbedder) -> None:
    stats = GaussianStats.fit(embedder(noise(2.0, 0.1, channels=2))[1])
    reward = FADReward(embedder, stats)
    silence = np.zeros((2, SR), dtype=np.float32)
    clipped = np.clip(noise(1.0, 3.0, channels=2, seed=1), -1.0, 1.0)
    scores = [reward.score(x, ScoreContext(SR)) for x in (silence, clipped)]
    assert np.isfinite(scores).all() and max(scores) <= 0.0


def test_fad_reward_is_zero_for_the_statistics_own_audio(embedder: AudioEmbedder) -> None:
    target = noise(2.0, 0.1, channels=2)
    reward = FADReward(embedder, GaussianStats.fit(embedder(target)[1]))
    assert reward.score(target, ScoreContext(SR)) == pytest.approx(0.0, abs=1e-12)


def test_fad_reward_prefers_the_same_kind_of_sound(embedder: AudioEmbedder) -> None:
    reward = FADReward(embedder, GaussianStats.fit(embedder(noise(2.0, 0.1, channels=2))[1]))
    same_kind = reward.score(noise(2.0, 0.1, channels=2, seed=5), ScoreContext(SR))
    quieter = reward.score(noise(2.0, 0.01, channels=2, seed=5), ScoreContext(SR))
    assert quieter < 100 * same_kind < 0.0


def test_fad_reward_refuses_statistics_of_another_dimension(embedder: AudioEmbedder) -> None:
    with pytest.raises(ValueError, match="compute the statistics with this backbone"):
        FADReward(embedder, GaussianStats(np.zeros(D), np.eye(D), 1))


def test_fad_reward_reads_mixes_at_another_sample_rate(embedder: AudioEmbedder) -> None:
    reward = FADReward(embedder, GaussianStats.fit(embedder(tone(440, 2.0, 0.3, channels=2))[1]))
    same_sound = reward.score(tone(440, 2.0, 0.3, sr=44_100, channels=2), ScoreContext(44_100))
    other_sound = reward.score(noise(2.0, 0.1, sr=44_100, channels=2), ScoreContext(44_100))
    assert other_sound < 10 * same_sound < 0.0
    assert reward.embedder.at_rate(44_100) is reward.embedder.at_rate(44_100)  # one front end per rate, kept
    assert reward.embedder.at_rate(44_100).embedding_key == embedder.embedding_key  # and one shared backbone


def test_fad_and_anomaly_share_one_backbone_pass(embedder: AudioEmbedder, monkeypatch: pytest.MonkeyPatch) -> None:
    stats = GaussianStats.fit(embedder(noise(2.0, 0.1, channels=2))[1])
    features = np.random.default_rng(0).standard_normal((20, 3 * embedder.embedding_dim + len(DESCRIPTORS)))
    terms = [FADReward(embedder, stats), AnomalyReward(embedder, AnomalyDetector.fit(features))]
    calls = []
    embed = embedder.embed_features
    monkeypatch.setattr(embedder, "embed_features", lambda logmel: calls.append(1) or embed(logmel))
    mix = noise(1.0, 0.1, channels=2, seed=2)
    context = ScoreContext(SR, None, {"other": mix})
    scores = [term.score(mix, context) for term in terms]
    assert len(calls) == 1 and np.isfinite(scores).all()
