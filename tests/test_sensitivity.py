"""How much each control moves the mix, and the audible parameter error it weighs."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from mixenv import artifacts
from mixenv.clip import song_clips
from mixenv.data.corpus import corpus_songs
from mixenv.params import ParamSpace
from mixenv.render import gain_staging, render
from rewards.metrics import MetricSuite, audible_parameter_error, clip_metrics, nearest_equivalent
from rewards.sensitivity import Sensitivity, ground_truths, measure_sensitivity, typical_moves


@pytest.fixture(scope="module")
def clips(tiny_corpus: Path) -> list:
    return song_clips(corpus_songs(tiny_corpus, "train")[:2], clip_seconds=1.0)


def test_a_fader_move_is_heard_and_a_ratio_without_compression_is_not(clips: list) -> None:
    space = ParamSpace()
    moves = {name: 0.2 for name in space.names}
    sens, yardstick = measure_sensitivity(clips, moves, space, progress=False)
    # A 0.2 move of a fader is 3.6 dB on one stem; the bus ratio at the prior's threshold moves far less.
    assert sens["vocals.gain_db"] > yardstick > 0
    assert sens["vocals.gain_db"] > 5 * sens["master_comp_ratio"]
    assert all(np.isfinite(v) and v >= 0 for v in sens.values())


def test_a_zero_move_changes_nothing(clips: list) -> None:
    space = ParamSpace()
    sens, _ = measure_sensitivity(clips, dict.fromkeys(space.names, 0.0), space, progress=False)
    assert max(sens.values()) == 0.0


def test_typical_moves_are_the_spread_around_the_training_mean() -> None:
    space = ParamSpace(("vocals", "bass"))
    everything, vocals_only = space.controls_of(space.roles), space.controls_of(["vocals"])
    train = [(np.full(space.size, v), everything) for v in (0.0, 0.5)]  # mean 0.25 everywhere
    test = [(np.full(space.size, 0.75), everything), (np.full(space.size, 0.05), vocals_only)]
    moves = typical_moves(train, test, space)
    assert moves["vocals.gain_db"] == pytest.approx((0.5 + 0.2) / 2)
    assert moves["bass.gain_db"] == pytest.approx(0.5)  # only the song that has a bass counts


def test_ground_truths_read_each_songs_settings_and_roles(tiny_corpus: Path) -> None:
    space = ParamSpace()
    truths = ground_truths(tiny_corpus, "train", space)
    songs = corpus_songs(tiny_corpus, "train")
    assert len(truths) == len(songs)
    first = songs[0].load()
    assert np.allclose(truths[0][0], first.settings.normalized())
    assert (truths[0][1] == space.controls_of(first.roles)).all()


def test_the_audible_error_weighs_each_control_by_its_sensitivity() -> None:
    weights = {"a": 1.0, "b": 0.0, "c": 3.0}
    assert audible_parameter_error({"a": 0.0, "b": 0.9, "c": 0.0}, weights) == 0.0  # b is inaudible
    assert audible_parameter_error({"a": -0.4, "c": 0.0}, weights) == pytest.approx(0.1)
    assert audible_parameter_error({"a": 0.2, "c": 0.2}, weights) == pytest.approx(0.2)  # equal errors: their size
    with pytest.raises(ValueError, match="no control"):
        audible_parameter_error({"b": 0.3}, weights)


def test_settings_that_differ_only_in_gain_staging_render_alike_and_have_no_audible_error(clips: list) -> None:
    clip = clips[0]
    truth, roles, stems = clip.excerpt.settings, clip.excerpt.roles, clip.excerpt.stems
    shifted = truth.replace({name: truth[name] - 3.0 for name in gain_staging(roles)})  # 3 dB more drive
    assert shifted["master_limiter_db"] == truth["master_limiter_db"] - 3.0  # within range: not clipped
    same = render(stems, shifted, clip.sample_rate).mix - render(stems, truth, clip.sample_rate).mix
    assert np.abs(same).max() < 1e-4  # one mix, sample for sample
    suite = MetricSuite.of_reward([], control_weights=dict.fromkeys(ParamSpace().names, 1.0))
    row = clip_metrics(suite, clip, clip.excerpt.reference, shifted)
    assert row["param_mae"] > 0.01 and row["param_audible"] == pytest.approx(0.0, abs=1e-9)
    # One fader off is a different mix, and still its whole error: 3 dB of 36, over every control of the song.
    louder = truth.replace({f"{roles[0]}.gain_db": truth[f"{roles[0]}.gain_db"] + 3.0})
    off = clip_metrics(suite, clip, clip.excerpt.reference, louder)
    assert off["param_audible"] == pytest.approx(3.0 * 2 / 36 / len(off["errors"]))


def test_the_nearest_equivalent_takes_the_weighted_median_shift_within_the_ranges() -> None:
    space = ParamSpace(("vocals", "bass"))
    truth = space.neutral().replace({"master_limiter_db": -1.0, "master_comp_threshold_db": -5.0})
    weights = dict.fromkeys(space.names, 1.0)
    shift = {"vocals.gain_db": -5.0, "bass.gain_db": -5.0, "master_comp_threshold_db": -10.0}
    predicted = truth.replace(shift | {"master_limiter_db": -6.0})
    assert nearest_equivalent(predicted, truth, space.roles, weights) == truth  # 5 dB more drive, all else equal
    # The faders ask for +5 dB (the limiter, weighing little here, for +1), but the limiter's threshold can rise
    # by 2 only: the closest equivalent within range.
    faders_first = weights | {"master_limiter_db": 0.1, "master_comp_threshold_db": 0.1}
    near = nearest_equivalent(truth.replace(shift | {"master_limiter_db": -2.0}), truth, space.roles, faders_first)
    assert near["master_limiter_db"] == 0.0 and near["vocals.gain_db"] == pytest.approx(-3.0)
    # Weighing alike per normalised unit, the limiter's 1 dB (a sixth of its range) outweighs the rest.
    even = nearest_equivalent(truth.replace(shift | {"master_limiter_db": -2.0}), truth, space.roles, weights)
    assert even["master_limiter_db"] == -1.0 and even["vocals.gain_db"] == pytest.approx(-4.0)
    # A song without a bass: its fader is no part of the gain staging.
    alone = nearest_equivalent(predicted, truth, ("vocals",), weights)
    assert alone["bass.gain_db"] == -5.0 and alone["vocals.gain_db"] == 0.0
    assert nearest_equivalent(predicted, truth, space.roles, {}) == predicted  # nothing to weigh


def test_the_corpus_sensitivity_is_measured_once_and_kept_beside_the_corpus(
    tiny_corpus: Path, tmp_path: Path, clips: list
) -> None:
    corpus = tmp_path / "corpus"
    corpus.symlink_to(tiny_corpus, target_is_directory=True)
    with pytest.raises(artifacts.MissingArtifactError, match="sensitivity"):
        artifacts.sensitivity(corpus, build=False)
    first = artifacts.sensitivity(corpus)
    stored = tmp_path / f"corpus.sensitivity-v{artifacts.SENSITIVITY_VERSION}.json"
    assert stored.is_file() and Sensitivity.load(stored) == first
    assert artifacts.sensitivity(corpus, build=False) == first  # read back, not measured again
    assert set(first.sensitivity) == set(first.typical_move) and first.yardstick > 0
    assert set(first.audible()) <= set(first.sensitivity) and "vocals.gain_db" in first.audible()

    clip = clips[0]
    suite = MetricSuite.of_reward([], control_weights=first.sensitivity)
    truth = clip.excerpt.settings
    exact = clip_metrics(suite, clip, clip.excerpt.reference, truth)
    assert exact["param_audible"] == 0.0
    moved = truth.normalized()
    moved[ParamSpace().index("vocals.gain_db")] += 0.3
    off = clip_metrics(suite, clip, clip.excerpt.reference, ParamSpace().to_physical(moved))
    assert off["param_audible"] > 0 and "param_audible" not in clip_metrics(
        MetricSuite.of_reward([]), clip, clip.excerpt.reference, truth
    )
