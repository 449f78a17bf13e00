"""The identifiability experiment: sensitivities mean what they say, and the goal ratios are computed right."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from experiments.identifiability import (
    ColourationOracle,
    ControlReport,
    goal_ratios,
    mean_abs_errors,
    oracle_features,
)
from mixenv.clip import song_clips
from mixenv.data import Multitrack
from mixenv.data.corpus import corpus_songs
from mixenv.params import ParamSpace
from supervised.predictors import ConstantPredictor, GroundTruthPredictor


@pytest.fixture(scope="module")
def clips(tiny_corpus: Path) -> list:
    return song_clips(corpus_songs(tiny_corpus, "train")[:2], clip_seconds=1.0)


def test_mean_abs_errors_are_zero_for_the_truth_and_match_a_constant_offset(clips: list) -> None:
    space = ParamSpace()
    assert max(mean_abs_errors(GroundTruthPredictor(space), clips).values()) == 0.0
    truth = np.stack([c.excerpt.settings.normalized() for c in clips])
    constant = ConstantPredictor("zeros", space, np.zeros(space.size, np.float32))
    errors = mean_abs_errors(constant, clips)
    i = space.index("vocals.gain_db")
    assert errors["vocals.gain_db"] == pytest.approx(np.abs(truth[:, i]).mean(), abs=1e-6)


def test_goal_ratios_average_errors_over_all_and_over_identifiable_controls() -> None:
    reports = [
        ControlReport("a", 0.2, sensitivity=1.0, mean_mae=0.2, model_mae=0.05),
        ControlReport("b", 0.4, sensitivity=0.5, mean_mae=0.4, model_mae=0.12),
        ControlReport("c", 0.4, sensitivity=0.01, mean_mae=0.4, model_mae=0.4),
    ]
    goals = goal_ratios(reports, yardstick=0.1)
    assert goals["audible_controls"] == 2 and goals["controls"] == 3
    assert goals["ratio_all"] == pytest.approx(0.57 / 1.0)
    assert goals["ratio_audible"] == pytest.approx(0.17 / 0.6)
    assert goals["spearman_sensitivity_vs_ratio"] == pytest.approx(-1.0)
    # sensitivity-weighted: (1 * 0.05 + 0.5 * 0.12 + 0.01 * 0.4) / (1 * 0.2 + 0.5 * 0.4 + 0.01 * 0.4)
    assert goals["audible_error_ratio"] == pytest.approx(0.114 / 0.404)


def _summary(rng: np.random.Generator, roles: tuple[str, ...] = ("vocals", "drums")) -> dict:
    colouration = {
        role: {
            "peak_dbfs": rng.uniform(-18, -4),
            "low_shelf_db": rng.normal(0, 3),
            "high_shelf_db": rng.normal(-1, 3),
            "resonance_hz": rng.uniform(300, 3000),
            "resonance_db": rng.uniform(0, 7),
            "rumble_dbfs": None,
            "noise_dbfs": rng.uniform(-78, -60),
        }
        for role in roles
    }
    return {"colouration": colouration, "reference_lufs": rng.uniform(-20, -12), "reference_peak_dbfs": -1.0}


def test_the_oracle_recovers_a_control_the_prior_ties_to_the_colouration_and_no_more() -> None:
    space, rng = ParamSpace(), np.random.default_rng(0)
    summaries = {f"s{i}": _summary(rng) for i in range(200)}
    shelf, ratio = space.index("vocals.low_shelf_db"), space.index("vocals.comp_ratio")
    truths = {}
    for name, summary in summaries.items():
        truths[name] = space.neutral_vector().astype(np.float64)
        truths[name][shelf] = -0.05 * summary["colouration"]["vocals"]["low_shelf_db"]  # undo the recorded tilt
        truths[name][ratio] = rng.uniform(-1, 1)  # drawn independently of anything recorded
    names = list(summaries)
    oracle = ColourationOracle.fit(space, summaries, [(name, truths[name]) for name in names[:150]])
    clips = [Multitrack(name, 22_050, {"vocals": np.zeros((1, 8), np.float32)}) for name in names[150:]]
    predicted, truth = oracle.predict(clips), np.array([truths[c.name] for c in clips])
    np.testing.assert_allclose(predicted[:, shelf], truth[:, shelf], atol=0.01)
    mean_error = np.abs(truth[:, ratio] - np.mean([truths[n][ratio] for n in names[:150]])).mean()
    assert np.abs(predicted[:, ratio] - truth[:, ratio]).mean() > 0.9 * mean_error  # nothing to read there
    assert predicted.shape == (50, space.size) and np.all(np.abs(predicted) <= 1.0)


def test_oracle_features_leave_absent_stems_and_bus_controls_without_colouration() -> None:
    summary = _summary(np.random.default_rng(1), roles=("vocals",))
    summary["colouration"]["vocals"]["resonance_db"] = 1.0  # too weak for the prior to aim the mid band at it
    vocals, drums, bus = (
        oracle_features(summary, n) for n in ("vocals.mid_freq_hz", "drums.gain_db", "master_comp_ratio")
    )
    assert vocals[1] == summary["colouration"]["vocals"]["peak_dbfs"] and vocals[4] == vocals[5] == 0.0
    assert not drums[1:9].any() and not bus[1:9].any()
    assert vocals[0] == drums[0] == bus[0] == 1.0 and bus[-2] == summary["reference_lufs"]
