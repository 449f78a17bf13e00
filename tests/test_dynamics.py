"""Each stem's compressor read from a reference (mixenv.dynamics) and what no linear setting explains
(mixenv.inversion.unexplained)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from mixenv.data import Multitrack, list_songs
from mixenv.dynamics import fader_shortfall, match_compressors
from mixenv.inversion import Explanation, explain_by, level_moves_db, unexplained
from mixenv.params import MixSettings, ParamSpace
from mixenv.render import Renderer, through_bus_shelves

COMPRESSED = {"drums.comp_threshold_db": -30.0, "drums.comp_ratio": 6.0, "vocals.comp_threshold_db": -28.0,
              "vocals.comp_ratio": 4.0}  # fmt: skip
BUDGET = 60


@pytest.fixture(scope="module")
def song(tiny_corpus: Path) -> Multitrack:
    return list_songs("synthetic", tiny_corpus)[0].load()


@pytest.fixture(scope="module")
def renderer(song: Multitrack) -> Renderer:
    return Renderer(song.sample_rate, ParamSpace().roles)


def _placed(song: Multitrack, renderer: Renderer, settings: MixSettings) -> dict[str, np.ndarray]:
    return renderer.render(song.stems, settings, return_stems=True).stems


def _compressed_reference(song: Multitrack, renderer: Renderer) -> tuple[MixSettings, np.ndarray]:
    """Faders, a pan and a shelf (what the linear fit reads) and two stems' compressors (what it cannot)."""
    linear = {"vocals.gain_db": 3.0, "bass.gain_db": -4.0, "other.pan": 0.4, "bass.low_shelf_db": 4.0}
    truth = ParamSpace().neutral().replace(linear | COMPRESSED)
    return truth, renderer.render(song.stems, truth).mix


def test_what_a_linear_fit_leaves_is_nothing_for_linear_settings_and_grows_with_compression(
    song: Multitrack, renderer: Renderer
) -> None:
    space = ParamSpace()
    neutral = _placed(song, renderer, space.neutral())
    linear = space.neutral().replace({"vocals.gain_db": 5.0, "drums.pan": -0.5, "other.high_shelf_db": -6.0})
    assert unexplained(neutral, renderer.render(song.stems, linear).mix, song.sample_rate) < 1e-3
    _, reference = _compressed_reference(song, renderer)
    left = unexplained(neutral, reference, song.sample_rate)
    assert left > 5 * unexplained(neutral, renderer.render(song.stems, linear).mix, song.sample_rate)
    assert unexplained(neutral, np.zeros_like(reference), song.sample_rate) == 0.0  # nothing to explain


def test_the_compressors_read_are_the_references_and_explain_it(
    song: Multitrack, renderer: Renderer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """From the neutral settings (no compressor acting) the reading more than halves what is left unexplained and
    finds the compressed stems compressing (ratio above 1, threshold within the stems' range); only compressor
    controls move. The same seed reads the same, on one thread as on several."""
    space = ParamSpace()
    _, reference = _compressed_reference(song, renderer)
    start = space.neutral()
    monkeypatch.setattr("mixenv.dynamics.READ_THREADS", 3)
    read = match_compressors(start, lambda s: _placed(song, renderer, s), reference, song.sample_rate, budget=BUDGET)
    before = unexplained(_placed(song, renderer, start), reference, song.sample_rate)
    after = unexplained(_placed(song, renderer, read), reference, song.sample_rate)
    assert after < before / 2
    for role in ("drums", "vocals"):
        assert read[f"{role}.comp_ratio"] > 1.1, role
        assert read[f"{role}.comp_threshold_db"] < -15.0, role
    moved = {space.names[i] for i in np.flatnonzero(read.normalized() != start.normalized())}
    assert moved and all(name.split(".")[-1] in ("comp_threshold_db", "comp_ratio") for name in moved)
    monkeypatch.setattr("mixenv.dynamics.READ_THREADS", 1)
    again = match_compressors(start, lambda s: _placed(song, renderer, s), reference, song.sample_rate, budget=BUDGET)
    assert np.array_equal(again.normalized(), read.normalized())


def test_silent_and_missing_stems_keep_their_compressors_and_a_linear_reference_keeps_the_start(
    song: Multitrack, renderer: Renderer
) -> None:
    space = ParamSpace()
    stems = {role: audio for role, audio in song.stems.items() if role != "other"}  # a song without that role
    silent = Multitrack(song.name, song.sample_rate, stems | {"bass": np.zeros_like(song.stems["bass"])})
    truth, _ = _compressed_reference(song, renderer)
    reference = renderer.render(silent.stems, truth).mix
    start = space.neutral().replace({"bass.comp_ratio": 3.0})
    calls = []

    def placed(settings: MixSettings) -> dict[str, np.ndarray]:
        calls.append(1)
        return _placed(silent, renderer, settings)

    read = match_compressors(start, placed, reference, song.sample_rate, budget=BUDGET)
    for role in ("bass", "other"):
        assert all(read[f"{role}.{c}"] == start[f"{role}.{c}"] for c in ("comp_threshold_db", "comp_ratio")), role
    assert read["drums.comp_ratio"] > 1.1  # the stems that play are read
    assert BUDGET <= len(calls) <= BUDGET + 9  # the start, then whole generations of 8 (4 controls)
    # A reference the stems make under a linear mix alone (no bus, whose limiter is not linear): the uncompressed
    # start explains it, and nothing explains it better.
    plain = _placed(song, renderer, space.neutral())
    linear = sum(audio * (2.0 if role == "vocals" else 1.0) for role, audio in plain.items())
    kept = match_compressors(space.neutral(), lambda s: _placed(song, renderer, s), linear, song.sample_rate)
    assert np.array_equal(kept.normalized(), space.neutral_vector())


def test_the_fader_shortfall_is_the_energy_a_fader_at_its_range_misses() -> None:
    """Two audible stems, one 6 dB louder in the reference than placed: around their median each moves 3 dB, which
    takes a fader at +11 dB to +14, 2 dB past its ceiling: 0.5 of the energy times (10^(-2/20) - 1)^2. A silent
    stem's ratio, however large, counts for nothing; inside the range nothing is missed."""
    settings = ParamSpace().neutral().replace({"vocals.gain_db": 11.0})
    explanation = Explanation(0.01, np.array([0.5, 0.5, 0.0]), np.array([10**0.6, 1.0, 1e6]))
    missed = fader_shortfall(settings, ["vocals", "drums", "bass"], explanation)
    assert missed == pytest.approx(0.5 * (10 ** (-2 / 20) - 1) ** 2, rel=1e-9)
    assert fader_shortfall(settings.replace({"vocals.gain_db": 9.0}), ["vocals", "drums", "bass"], explanation) == 0
    assert fader_shortfall(settings, ["vocals"], Explanation(0.01, np.array([1.0]), np.array([100.0]))) == 0


@pytest.mark.parametrize("index", [2, 3, 5])
def test_a_loud_compressed_stem_is_read_with_a_fader_its_range_can_set(
    tiny_corpus: Path, renderer: Renderer, index: int
) -> None:
    """A vocal compressed (threshold -30 dB, ratio 4) with its fader at +11 dB: a deeper compressor explains its
    shape as well, but its fader would have to pass +12 dB to make up the level. The reading keeps the fader its
    reading implies within the range and the threshold within 5 dB of the truth (scored by what is unexplained
    alone, on these songs: implied faders +15.0 / +13.1 / +13.9 dB, thresholds -37.9 / -33.7 / -35.7 dB)."""
    song = list_songs("synthetic", tiny_corpus)[index].load()
    space = ParamSpace()
    compressed = {"vocals.comp_threshold_db": -30.0, "vocals.comp_ratio": 4.0} | {
        key: value for key, value in COMPRESSED.items() if key.startswith("drums")
    }
    start = space.neutral().replace({"vocals.gain_db": 11.0})
    reference = renderer.render(song.stems, start.replace(compressed)).mix
    read = match_compressors(start, lambda s: _placed(song, renderer, s), reference, song.sample_rate, budget=BUDGET)
    stems = through_bus_shelves(_placed(song, renderer, read), read.master, song.sample_rate)
    moves = level_moves_db(explain_by(reference, song.sample_rate)(stems).power_ratios)
    assert 11.0 + moves[list(stems).index("vocals")] < 12.3
    assert abs(read["vocals.comp_threshold_db"] + 30.0) < 5.0
