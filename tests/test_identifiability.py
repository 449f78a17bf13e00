"""The identifiability experiment: sensitivities mean what they say, and the goal ratios are computed right."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from experiments.identifiability import ControlReport, goal_ratios, mean_abs_errors, sensitivities
from mixenv.data.synth.corpus import corpus_songs
from mixenv.params import ParamSpace
from supervised.evaluate import ConstantPredictor, GroundTruthPredictor, eval_clips


@pytest.fixture(scope="module")
def clips(tiny_corpus: Path) -> list:
    return eval_clips(corpus_songs(tiny_corpus, "train")[:2], clip_seconds=1.0)


def test_a_fader_move_is_heard_and_a_ratio_without_compression_is_not(clips: list) -> None:
    space = ParamSpace()
    moves = {name: 0.2 for name in space.names}
    sens, yardstick = sensitivities(clips, moves, space, progress=False)
    # A 0.2 move of a fader is 3.6 dB on one stem; the bus ratio at the prior's threshold moves far less.
    assert sens["vocals.gain_db"] > yardstick > 0
    assert sens["vocals.gain_db"] > 5 * sens["master_comp_ratio"]
    assert all(np.isfinite(v) and v >= 0 for v in sens.values())


def test_a_zero_move_changes_nothing(clips: list) -> None:
    space = ParamSpace()
    sens, _ = sensitivities(clips, dict.fromkeys(space.names, 0.0), space, progress=False)
    assert max(sens.values()) == 0.0


def test_mean_abs_errors_are_zero_for_the_truth_and_match_a_constant_offset(clips: list) -> None:
    space = ParamSpace()
    assert max(mean_abs_errors(GroundTruthPredictor(space), clips).values()) == 0.0
    truth = np.stack([c.clip.settings.normalized() for c in clips])
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
