"""The one-class anomaly detector, its descriptors, its reward and the good-mix model that holds it."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from scipy.stats import rankdata

from mixenv.backbone import AudioEmbedder, Backbone, BackboneCheckpoint
from mixenv.data import Multitrack, list_songs
from mixenv.features import FeatureConfig
from mixenv.render import Renderer
from rewards.anomaly import DETECTOR_VERSION, AnomalyDetector, AnomalyReward, feature_columns, mix_features
from rewards.base import ScoreContext
from rewards.corrupt import CORRUPTIONS
from rewards.descriptors import DESCRIPTORS, StemSummary, describe
from rewards.goodmix import GoodMixModel, build_good_mix_model, good_clip_starts, source_weights

from conftest import SR, noise

D = 4
K = len(DESCRIPTORS)


@pytest.fixture(scope="module")
def checkpoint() -> BackboneCheckpoint:
    torch.manual_seed(0)
    return BackboneCheckpoint(Backbone(), FeatureConfig(), SR)


@pytest.fixture(scope="module")
def embedder(checkpoint: BackboneCheckpoint) -> AudioEmbedder:
    return AudioEmbedder(checkpoint, SR)


def _features(n: int, seed: int, shift: float = 0.0) -> np.ndarray:
    """Gaussian stand-ins for ``mix_features`` (3D embedding columns, then K correlated descriptors)."""
    rng = np.random.default_rng(seed)
    mixing = np.random.default_rng(100).standard_normal((3 * D + K, 3 * D + K)) * 0.3 + np.eye(3 * D + K)
    x = rng.standard_normal((n, 3 * D + K)) @ mixing
    x[:, -1] += shift
    return x


def _auc(negatives: np.ndarray, positives: np.ndarray) -> float:
    ranks = rankdata(np.concatenate([negatives, positives]))
    return float(
        (ranks[len(negatives) :].sum() - len(positives) * (len(positives) + 1) / 2) / negatives.size / positives.size
    )


def test_calibrated_anomaly_of_new_good_mixes_is_a_standard_score() -> None:
    detector = AnomalyDetector.fit(_features(600, seed=0))
    scores = detector.score(_features(2000, seed=1))
    assert abs(scores.mean()) < 0.15
    assert 0.8 < scores.std() < 1.25


def test_detector_ranks_shifted_mixes_above_good_ones() -> None:
    detector = AnomalyDetector.fit(_features(600, seed=0))
    scale = _features(600, seed=0)[:, -1].std()
    auc = _auc(detector.score(_features(300, seed=2)), detector.score(_features(300, seed=3, shift=4 * scale)))
    assert auc > 0.97


def test_descriptor_detector_ignores_the_embedding_columns() -> None:
    detector = AnomalyDetector.fit(_features(200, seed=0), feature_set="descriptors")
    x = _features(5, seed=4)
    moved = x.copy()
    moved[:, : 3 * D] += 100.0
    np.testing.assert_array_equal(detector.score(x), detector.score(moved))


def test_feature_columns_split_embedding_and_descriptors() -> None:
    n = 3 * D + K
    assert feature_columns("embedding", n).tolist() == list(range(3 * D))
    assert feature_columns("descriptors", n).tolist() == list(range(3 * D, n))
    assert feature_columns("embedding+descriptors", n).tolist() == list(range(n))


def test_saved_detector_loads_with_identical_scores(tmp_path: Path) -> None:
    detector = AnomalyDetector.fit(_features(100, seed=0), feature_set="embedding+descriptors")
    loaded = AnomalyDetector.load(detector.save(tmp_path / "detector.npz"))
    x = _features(20, seed=5)
    np.testing.assert_array_equal(loaded.score(x), detector.score(x))
    assert loaded.feature_set == "embedding+descriptors"
    assert list(tmp_path.iterdir()) == [tmp_path / "detector.npz"]  # no temporary file left behind


def test_loading_a_foreign_npz_is_refused(tmp_path: Path) -> None:
    np.savez(tmp_path / "other.npz", weights=np.zeros(3))
    with pytest.raises(ValueError, match=f"not a version-{DETECTOR_VERSION} mixenv anomaly detector"):
        AnomalyDetector.load(tmp_path / "other.npz")


@pytest.mark.parametrize(
    ("features", "kwargs", "message"),
    [
        (np.zeros((5, 3 * D + K)), {}, r"needs features shaped \(n >= 10, F\)"),
        (np.full((20, 3 * D + K), np.nan), {}, "NaN or infinite"),
        (np.zeros((20, 3 * D + K)), {"feature_set": "mfcc"}, "unknown feature set 'mfcc'"),
        (np.zeros((20, 3 * D + K + 1)), {}, r"is not 3 \* embedding_dim"),
        (np.zeros((20, 3 * D + K)), {"weights": np.ones(19)}, "weights must be positive and one per good mix"),
        (np.zeros((20, 3 * D + K)), {"weights": -np.ones(20)}, "weights must be positive"),
    ],
)
def test_fit_refuses_bad_input(features: np.ndarray, kwargs: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        AnomalyDetector.fit(features, **kwargs)


def test_a_weight_counts_like_repeating_the_mix() -> None:
    x = _features(100, seed=0)
    weighted = AnomalyDetector.fit(x, weights=np.r_[np.full(50, 2.0), np.ones(50)])
    repeated = AnomalyDetector.fit(np.concatenate([x, x[:50]]))
    np.testing.assert_allclose(weighted.centre, repeated.centre, rtol=1e-12)
    np.testing.assert_allclose(weighted.scale, repeated.scale, rtol=1e-12)
    plain, equal = AnomalyDetector.fit(x), AnomalyDetector.fit(x, weights=np.full(100, 3.0))
    np.testing.assert_allclose(equal.score(x), plain.score(x), rtol=1e-9)


def test_each_source_of_a_pool_weighs_the_same() -> None:
    sources = np.array(["corpus"] * 6 + ["classics"] * 2 + ["musdb18hq"] * 4)
    weights = source_weights(sources)
    totals = [weights[sources == name].sum() for name in ("corpus", "classics", "musdb18hq")]
    np.testing.assert_allclose(totals, 1.0)
    assert weights[0] == pytest.approx(1 / 6) and weights[6] == pytest.approx(1 / 2)


@pytest.fixture(scope="module")
def tiny_model(checkpoint: BackboneCheckpoint, tiny_corpus: Path) -> GoodMixModel:
    """Good-mix model of the first four songs' references alone (no varied re-renders), 1 s clips every 0.5 s (20
    clips)."""
    songs = list_songs("synthetic", tiny_corpus)[:4]
    return build_good_mix_model(checkpoint, songs, clip_seconds=1.0, hop_seconds=0.5, variations=0, progress=False)


def test_variations_widen_the_pool_of_good_mixes(
    checkpoint: BackboneCheckpoint, tiny_model: GoodMixModel, tiny_corpus: Path
) -> None:
    songs = list_songs("synthetic", tiny_corpus)[:4]
    wider = build_good_mix_model(checkpoint, songs, clip_seconds=1.0, hop_seconds=0.5, variations=2, progress=False)
    assert wider.info["variations"] == 2 and wider.info["clips"] > 2 * tiny_model.info["clips"]
    assert np.isfinite(wider.features).all() and len(np.unique(wider.features, axis=0)) == wider.info["clips"]


def test_the_model_is_the_same_whatever_the_threads_that_make_it(
    checkpoint: BackboneCheckpoint, tiny_model: GoodMixModel, tiny_corpus: Path
) -> None:
    songs = list_songs("synthetic", tiny_corpus)[:4]
    kwargs = {"clip_seconds": 1.0, "hop_seconds": 0.5, "variations": 1, "progress": False}
    one, two = (build_good_mix_model(checkpoint, songs, workers=w, **kwargs) for w in (1, 2))
    assert np.array_equal(one.features, two.features) and np.array_equal(one.fad.cov, two.fad.cov)
    assert one.info == two.info and np.array_equal(one.detector.score(one.features), two.detector.score(one.features))


@pytest.fixture(scope="module")
def held_out_scores(tiny_model: GoodMixModel, embedder: AudioEmbedder, tiny_corpus: Path) -> dict[str, np.ndarray]:
    """Anomaly of 1 s clips of the last two songs, good and under each full-strength corruption."""
    renderer = Renderer(SR)
    rng = np.random.default_rng(0)
    scores: dict[str, list[float]] = {"good": [], **{name: [] for name in CORRUPTIONS}}
    for ref in list_songs("synthetic", tiny_corpus)[4:]:
        song = ref.load()
        for start in range(0, song.num_samples - SR + 1, SR // 2):
            part = song.segment(start, SR)
            stems = StemSummary.of(part.stems, SR)
            mixes = {"good": renderer.render(part.stems, part.settings).mix}
            mixes |= {n: c(part.stems, part.settings, renderer, rng, 1.0) for n, c in CORRUPTIONS.items()}
            for name, mix in mixes.items():
                features = mix_features(*embedder(mix), describe(mix, SR, stems))
                scores[name].append(float(tiny_model.detector.score(features)))
    return {name: np.array(values) for name, values in scores.items()}


@pytest.mark.parametrize("name", ["clipping", "stem_boost", "bus_low_shelf"])
def test_detector_ranks_corrupted_corpus_mixes_above_good_ones(held_out_scores: dict, name: str) -> None:
    """On four training songs only the blatant defects separate, and 10 clips per class make the AUC coarse (an
    12-D Gaussian from 20 clips): a defect must outrank a good clip seven times in ten (chance is one in two). The
    full-corpus AUCs are measured by ``experiments.eval_rewards``."""
    assert _auc(held_out_scores["good"], held_out_scores[name]) >= 0.7


def test_good_mix_model_counts_its_clips(tiny_model: GoodMixModel) -> None:
    assert tiny_model.info["clips"] == 20 and tiny_model.features.shape == (20, 3 * 128 + K)
    assert tiny_model.fad.n == 20 * 11  # 11 backbone frames per 1 s clip


def test_saved_good_mix_model_loads_identically(tiny_model: GoodMixModel, tmp_path: Path) -> None:
    loaded = GoodMixModel.load(tiny_model.save(tmp_path / "goodmix.npz"))
    np.testing.assert_array_equal(loaded.fad.cov, tiny_model.fad.cov)
    np.testing.assert_array_equal(
        loaded.detector.score(tiny_model.features), tiny_model.detector.score(tiny_model.features)
    )
    assert loaded.info == tiny_model.info
    assert loaded.sources.tolist() == tiny_model.sources.tolist() == ["synthetic"] * 20


def test_good_clips_skip_silence() -> None:
    mix = np.concatenate([np.zeros((2, SR)), noise(1.0, 0.1, channels=2)], axis=1)
    song = Multitrack("gap", SR, {"other": mix}, reference=mix)
    assert good_clip_starts(song, clip_seconds=0.5, hop_seconds=0.5) == [SR, SR + SR // 2]
    with pytest.raises(ValueError, match="no reference mix"):
        good_clip_starts(Multitrack("bare", SR, {"other": mix}), clip_seconds=0.5, hop_seconds=0.5)


def test_anomaly_reward_is_finite_and_prefers_the_good_mix(
    tiny_model: GoodMixModel, embedder: AudioEmbedder, tiny_corpus: Path
) -> None:
    song = list_songs("synthetic", tiny_corpus)[5].load().segment(0, SR)
    reward = AnomalyReward(embedder, tiny_model.detector)
    context = ScoreContext(SR, None, song.stems)
    good = reward.score(np.array(song.reference), context)
    clipped = reward.score(np.clip(song.reference * 8.0, -1.0, 1.0), context)
    silence = reward.score(np.zeros((2, SR), dtype=np.float32), context)
    assert np.isfinite([good, clipped, silence]).all()
    assert good > clipped and good > silence
    with pytest.raises(ValueError, match="needs the stems the mix was made from"):
        reward.score(np.array(song.reference), ScoreContext(SR))


def test_anomaly_reward_refuses_a_detector_of_another_backbone(embedder: AudioEmbedder) -> None:
    with pytest.raises(ValueError, match="fit the detector with this backbone"):
        AnomalyReward(embedder, AnomalyDetector.fit(_features(20, seed=0)))
