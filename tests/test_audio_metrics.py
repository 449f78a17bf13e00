"""The field's metrics mean what they say: identical mixes score 0, a known change moves each the known way."""

from __future__ import annotations

import numpy as np
import pytest

from mixenv.loudness import loudness_range, peak_dbfs, true_peak_dbtp
from mixenv.params import ParamSpace
from mixenv.render import render
from rewards.audio_features import FEATURES, audio_features, feature_errors
from rewards.fad import kernel_audio_distance
from rewards.metrics import METRICS, MetricSuite, mix_metrics

from conftest import SR, noise, tone


def _mix(changes: dict[str, float] | None = None) -> np.ndarray:
    stems = {"vocals": noise(2.0, 0.1, channels=2, seed=1), "bass": tone(80, 2.0, 0.2), "other": noise(2.0, 0.05)}
    return render(stems, ParamSpace().neutral().replace(changes or {}), SR).mix


def test_an_identical_mix_has_no_feature_error_and_a_brighter_one_has_a_higher_centroid() -> None:
    reference = _mix()
    assert set(feature_errors(reference, reference, SR)) == {*FEATURES, "feature_error"}
    assert all(v == 0.0 for v in feature_errors(reference, reference, SR).values())
    bright = _mix({"master_high_shelf_db": 9.0})
    errors = feature_errors(bright, reference, SR)
    assert audio_features(bright, SR)["centroid"] > 1.2 * audio_features(reference, SR)["centroid"]
    assert errors["centroid"] > 0.2 and errors["rolloff"] > 0.1 and errors["feature_error"] > 0.02
    louder = feature_errors(2.0 * reference, reference, SR)  # +6 dB: the level doubles, the shape stays
    assert louder["rms"] == pytest.approx(1.0, abs=1e-6) and louder["crest"] == pytest.approx(0.0, abs=1e-9)
    assert louder["centroid"] == pytest.approx(0.0, abs=1e-9) and louder["flatness"] == pytest.approx(0.0, abs=1e-9)


def test_panning_reads_zero_for_mono_and_one_for_a_single_side() -> None:
    source = noise(1.0, 0.1, seed=4)
    assert audio_features(np.concatenate([source, source]), SR)["panning"] == pytest.approx(0.0, abs=1e-6)
    assert audio_features(np.concatenate([source, 0 * source]), SR)["panning"] == pytest.approx(1.0, abs=1e-6)
    half = audio_features(np.concatenate([source, 0.5 * source]), SR)["panning"]
    assert half == pytest.approx(1 - 2 * 0.5 / 1.25, abs=1e-6)  # 1 - 2|L R| / (L^2 + R^2)
    assert audio_features(np.zeros((2, SR)), SR)["rms"] == -200.0  # silence is defined


def test_true_peak_counts_the_peaks_between_samples() -> None:
    sr = 48_000
    t = np.arange(sr) / sr
    quarter = np.sin(2 * np.pi * sr / 4 * t + np.pi / 4)[None]  # sampled at +-0.707, peaks at 1 between samples
    assert peak_dbfs(quarter) == pytest.approx(-3.01, abs=0.01)
    assert true_peak_dbtp(quarter, sr) == pytest.approx(0.0, abs=0.5)
    slow = 0.5 * np.sin(2 * np.pi * 100 * t)[None]
    assert true_peak_dbtp(slow, sr) == pytest.approx(peak_dbfs(slow), abs=0.01)


def test_loudness_range_reads_a_step_in_level_and_nothing_for_a_steady_signal() -> None:
    quiet, loud = noise(20.0, 0.01, seed=1), noise(20.0, 0.1, seed=2)
    assert loudness_range(np.concatenate([quiet, loud], axis=1), SR) == pytest.approx(20.0, abs=1.0)
    assert loudness_range(loud, SR) < 0.5 and loudness_range(loud[:, :SR], SR) == 0.0


def test_kernel_audio_distance_is_the_unbiased_mmd_and_grows_as_sets_part() -> None:
    rng = np.random.default_rng(0)
    x, y = rng.standard_normal((40, 8)), rng.standard_normal((50, 8))
    bandwidth = 2.0
    k = lambda a, b: np.exp(-np.sum((a - b) ** 2) / (2 * bandwidth**2))  # noqa: E731
    xx = sum(k(a, b) for i, a in enumerate(x) for j, b in enumerate(x) if i != j) / (40 * 39)
    yy = sum(k(a, b) for i, a in enumerate(y) for j, b in enumerate(y) if i != j) / (50 * 49)
    xy = sum(k(a, b) for a in x for b in y) / (40 * 50)
    assert kernel_audio_distance(x, y, bandwidth=bandwidth) == pytest.approx(1000 * (xx + yy - 2 * xy), rel=1e-9)
    same = kernel_audio_distance(x, y)
    shifted = kernel_audio_distance(x + 0.5, y)
    assert abs(same) < 0.2 * shifted and kernel_audio_distance(x + 1.0, y) > shifted > 0
    with pytest.raises(ValueError, match="two sets"):
        kernel_audio_distance(x[:1], y)


def test_paired_kad_is_zero_for_identical_sets_where_the_two_sample_one_runs_negative() -> None:
    rng = np.random.default_rng(1)
    songs = rng.standard_normal((8, 16))  # one embedding per song
    references = songs + 0.05 * rng.standard_normal((8, 16))  # each mix near its own song's reference
    assert kernel_audio_distance(songs, songs, paired=True) == pytest.approx(0.0, abs=1e-9)
    assert kernel_audio_distance(songs, songs) < -10  # the two-sample estimate on paired sets: biased low
    assert abs(kernel_audio_distance(references, songs, paired=True)) < 5
    shifted = kernel_audio_distance(songs + 0.5, songs, paired=True)
    assert kernel_audio_distance(songs + 1.0, songs, paired=True) > shifted > 5
    with pytest.raises(ValueError, match="one embedding per item"):
        kernel_audio_distance(songs[:4], songs, paired=True)


def test_mix_metrics_report_the_new_columns_zero_for_the_reference_itself() -> None:
    from rewards.spectral import SpectralReward

    reference = _mix()
    same = mix_metrics(MetricSuite(SpectralReward()), reference, SR, reference=reference)
    assert {"lra_error", "feature_error", "true_peak_over"} <= set(same) <= set(METRICS)
    assert same["feature_error"] == 0.0 and same["lra_error"] == 0.0 and same["true_peak_over"] == 0.0
    hot = mix_metrics(MetricSuite(SpectralReward()), 1.5 * reference / np.max(np.abs(reference)), SR)
    assert hot["true_peak_over"] == pytest.approx(20 * np.log10(1.5) + 1.0, abs=0.6)
