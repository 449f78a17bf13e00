"""Multitrack record, audio I/O, atomic writes, the folder loader and its policies for bad input."""

from __future__ import annotations

import logging
import stat
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from pedalboard.io import AudioFile

from mixenv.data import (
    AudioFileError,
    DatasetError,
    LoadPolicy,
    Multitrack,
    MultitrackError,
    StemsError,
    list_songs,
    load_folder,
    open_folder,
    read_audio,
    write_audio,
)
from mixenv.data import atomic as atomic_module
from mixenv.data.atomic import atomic_dir, atomic_path, replacing_dir
from mixenv.data.folder import role_from_name
from mixenv.params import ParamSpace
from mixenv.presets import save_preset

from conftest import SR, noise, tone


def _opened(path, **kwargs) -> Multitrack:
    """A folder opened to be read in blocks (``open_folder``), then read whole in blocks of a tenth of a second."""
    song = open_folder(path, **kwargs)
    parts = list(song.blocks(SR // 10))
    assert all(p.num_samples == SR // 10 for p in parts[:-1])
    return Multitrack(
        song.name,
        song.sample_rate,
        {role: np.concatenate([p.stems[role] for p in parts], axis=1) for role in song.roles},
        reference=None if parts[0].reference is None else np.concatenate([p.reference for p in parts], axis=1),
        settings=song.settings,
    )


@pytest.fixture(params=["load_folder", "open_folder"])
def load(request: pytest.FixtureRequest) -> Callable[..., Multitrack]:
    """Every folder test holds for both loaders: whole (``load_folder``) and in blocks (``open_folder``)."""
    return load_folder if request.param == "load_folder" else _opened


# --- Multitrack -------------------------------------------------------------------------------------------------


def test_multitrack_is_immutable() -> None:
    source = tone(440)
    song = Multitrack("s", SR, {"vocals": source})
    source[0, 0] = 1.0  # the record holds its own copy
    assert song.stems["vocals"][0, 0] == 0.0
    with pytest.raises(ValueError):
        song.stems["vocals"][0, 0] = 1.0
    with pytest.raises(TypeError):
        song.stems["bass"] = tone(80)  # type: ignore[index]


@pytest.mark.parametrize(
    ("stems", "message"),
    [
        ({"vocals": tone(440, 1.0), "bass": tone(80, 0.5)}, "different lengths"),
        ({"vocals": np.full((1, 100), np.nan, np.float32)}, "NaN"),
        ({"vocals": np.zeros((3, 100), np.float32)}, "1 or 2 channels"),
        ({"vocals": np.zeros(100, np.float32)}, "1 or 2 channels"),
        ({}, "no stems"),
    ],
)
def test_invalid_multitracks_are_refused(stems: dict, message: str) -> None:
    with pytest.raises(MultitrackError, match=message):
        Multitrack("bad", SR, stems)


def test_multitrack_pickles(tmp_path: Path) -> None:
    import pickle

    song = Multitrack("s", SR, {"vocals": tone(440), "bass": tone(80)}, reference=noise(channels=2), source="x")
    clone = pickle.loads(pickle.dumps(song))
    assert clone.roles == song.roles and clone.source == "x"
    np.testing.assert_array_equal(clone.stems["bass"], song.stems["bass"])
    assert not clone.stems["bass"].flags.writeable


def test_segment_is_a_view_of_the_right_samples() -> None:
    audio = noise(1.0)
    song = Multitrack("s", SR, {"vocals": audio}, reference=np.repeat(audio, 2, axis=0))
    part = song.segment(100, 500)
    np.testing.assert_array_equal(part.stems["vocals"], audio[:, 100:600])
    assert part.reference is not None and part.reference.shape == (2, 500)
    assert np.shares_memory(part.stems["vocals"], song.stems["vocals"])
    with pytest.raises(MultitrackError, match="shorter clip"):
        song.segment(SR - 10, 100)


# --- audio I/O and atomic writes --------------------------------------------------------------------------------


def test_sixteen_bit_round_trip_within_quantisation(tmp_path: Path) -> None:
    audio = noise(0.5, 0.2, channels=2)
    write_audio(tmp_path / "a.wav", audio, SR)
    # JUCE scales negative samples by 32768 on writing and every sample by 1/32767 on reading: up to ~1.5 steps.
    np.testing.assert_allclose(read_audio(tmp_path / "a.wav"), audio, atol=2 / 32767)


def test_partial_read_and_resample(tmp_path: Path) -> None:
    audio = noise(1.0)
    write_audio(tmp_path / "a.wav", audio, SR, bit_depth=32)
    np.testing.assert_array_equal(read_audio(tmp_path / "a.wav", start=100, num_samples=50), audio[:, 100:150])
    assert read_audio(tmp_path / "a.wav", sample_rate=44_100).shape[1] == pytest.approx(2 * SR, abs=4)


@pytest.mark.parametrize(("rate", "to"), [(48_000, 44_100), (44_100, 48_000), (48_000, 22_050)])
def test_a_resampled_file_keeps_its_duration_to_the_sample(tmp_path: Path, rate: int, to: int) -> None:
    # pedalboard's resampler alone drops a sample between 44.1 and 48 kHz; stems of one length must stay so.
    write_audio(tmp_path / "a.wav", tone(440, 6.0, sr=rate), rate)
    audio = read_audio(tmp_path / "a.wav", sample_rate=to)
    assert audio.shape[1] == 6 * to and np.all(np.isfinite(audio))
    assert np.sqrt(np.mean(audio[:, : -to // 10] ** 2)) == pytest.approx(0.1 / np.sqrt(2), rel=0.01)


def test_clipping_on_write_is_reported(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING):
        clipped = write_audio(tmp_path / "a.wav", tone(440, 0.1, 1.5), SR)
    assert clipped > 0 and "clipped" in caplog.text


def test_missing_file_error_names_the_file(tmp_path: Path) -> None:
    with pytest.raises(AudioFileError, match=r"nope\.wav does not exist"):
        read_audio(tmp_path / "nope.wav")


def test_corrupt_file_error_names_the_file_and_fix(tmp_path: Path) -> None:
    (tmp_path / "bad.wav").write_bytes(b"RIFF\x00\x00\x00\x00WAVEjunkjunk")
    with pytest.raises(AudioFileError, match=r"bad.wav.*re-export"):
        read_audio(tmp_path / "bad.wav")


def test_failed_atomic_write_leaves_nothing(tmp_path: Path) -> None:
    with pytest.raises(RuntimeError), atomic_path(tmp_path / "out.json") as tmp:
        tmp.write_text("half")
        raise RuntimeError("interrupted")
    assert list(tmp_path.iterdir()) == []
    with pytest.raises(RuntimeError), atomic_dir(tmp_path / "corpus") as tmp:
        (tmp / "song").mkdir()
        raise RuntimeError("interrupted")
    assert list(tmp_path.iterdir()) == []


def test_atomic_writes_get_the_usual_permissions(tmp_path: Path) -> None:
    write_audio(tmp_path / "a.wav", tone(440, 0.1), SR)
    with atomic_dir(tmp_path / "folder"):
        pass
    assert stat.S_IMODE((tmp_path / "a.wav").stat().st_mode) == 0o666 & ~atomic_module._UMASK
    assert stat.S_IMODE((tmp_path / "folder").stat().st_mode) == 0o777 & ~atomic_module._UMASK


def test_atomic_dir_never_overwrites(tmp_path: Path) -> None:
    (tmp_path / "corpus").mkdir()
    with pytest.raises(FileExistsError, match="already exists"), atomic_dir(tmp_path / "corpus"):
        pass


def test_replacing_dir_swaps_in_a_whole_folder_and_keeps_the_old_one_on_failure(tmp_path: Path) -> None:
    with replacing_dir(tmp_path / "best") as tmp:
        (tmp / "v").write_text("1")
    with pytest.raises(RuntimeError), replacing_dir(tmp_path / "best") as tmp:
        (tmp / "v").write_text("half")
        raise RuntimeError("interrupted")
    assert (tmp_path / "best" / "v").read_text() == "1"
    (tmp_path / ".best.new").mkdir()  # what a crash between the renames leaves
    with replacing_dir(tmp_path / "best") as tmp:
        (tmp / "v").write_text("2")
    assert (tmp_path / "best" / "v").read_text() == "2" and [p.name for p in tmp_path.iterdir()] == ["best"]


# --- folder loader ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "role"),
    [
        ("vocals.wav", "vocals"),
        ("Lead Vox.wav", "vocals"),
        ("kick_in.flac", "drums"),
        ("Bass Drum.wav", "drums"),
        ("Synth Bass.wav", "bass"),
        ("bassoon.wav", "other"),
        ("Piano L.wav", "other"),
        ("mixture.wav", None),
    ],
)
def test_roles_from_file_names(name: str, role: str | None) -> None:
    assert role_from_name(name) == role


def test_folder_loads_roles_reference_and_settings(tmp_path: Path, write_song, load: Callable[..., Multitrack]) -> None:
    folder = write_song(
        tmp_path / "song",
        {"Lead Vox.wav": tone(440), "kick.wav": noise(), "snare.wav": noise(seed=3), "mix.wav": tone(440, channels=2)},
    )
    space = ParamSpace()
    save_preset(folder / "settings.json", space.neutral().replace({"vocals.gain_db": 2.0}))
    song = load(folder)
    assert song.roles == ("vocals", "drums")
    assert song.reference is not None and song.reference.shape == (2, SR)
    assert song.settings is not None and song.settings["vocals.gain_db"] == 2.0
    expected = read_audio(folder / "kick.wav") + read_audio(folder / "snare.wav")
    np.testing.assert_allclose(song.stems["drums"], expected, atol=1e-6)


def test_explicit_role_mapping_overrides_names(tmp_path: Path, write_song, load: Callable[..., Multitrack]) -> None:
    folder = write_song(tmp_path / "song", {"a.wav": tone(440), "b.wav": tone(80), "c.wav": noise()})
    song = load(folder, roles={"a": "bass", "b.wav": "vocals", "c": "ignore"})
    assert set(song.roles) == {"bass", "vocals"}
    np.testing.assert_allclose(song.stems["bass"], read_audio(folder / "a.wav"))


@pytest.mark.parametrize(
    ("roles", "message"),
    [({"zz.wav": "bass"}, "no such audio file"), ({"a.wav": "piano"}, "unknown role 'piano'")],
)
def test_bad_role_mappings_are_refused(
    tmp_path: Path, write_song, roles: dict, message: str, load: Callable[..., Multitrack]
) -> None:
    folder = write_song(tmp_path / "song", {"a.wav": tone(440)})
    with pytest.raises(StemsError, match=message):
        load(folder, roles=roles)


def test_missing_folder_is_refused(tmp_path: Path, load: Callable[..., Multitrack]) -> None:
    with pytest.raises(StemsError, match=r"stems folder .*missing.* does not exist; pass the folder"):
        load(tmp_path / "missing")


def test_empty_folder_is_refused(tmp_path: Path, load: Callable[..., Multitrack]) -> None:
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / "notes.txt").write_text("no audio here")
    with pytest.raises(StemsError, match="holds no audio files"):
        load(tmp_path / "empty")


def test_corrupt_stem_is_refused_naming_it(tmp_path: Path, write_song, load: Callable[..., Multitrack]) -> None:
    folder = write_song(tmp_path / "song", {"vocals.wav": tone(440)})
    (folder / "bass.wav").write_bytes(b"RIFF1234WAVEfmt broken")
    with pytest.raises(AudioFileError, match=r"bass.wav.*damaged"):
        load(folder)


def test_other_sample_rate_is_refused_then_resampled(
    tmp_path: Path, write_song, caplog, load: Callable[..., Multitrack]
) -> None:
    folder = write_song(tmp_path / "song", {"vocals.wav": tone(440, sr=44_100)}, sr=44_100)
    write_audio(folder / "bass.wav", tone(80, sr=48_000), 48_000)
    with pytest.raises(StemsError, match=r"bass.wav is at 48000 Hz.*--resample"):
        load(folder)
    with caplog.at_level(logging.WARNING):
        song = load(folder, policy=LoadPolicy(on_rate_mismatch="resample"))  # one length, so no length mismatch
    assert song.sample_rate == 44_100 and song.stems["bass"].shape[1] == song.stems["vocals"].shape[1] == 44_100
    assert "resampling" in caplog.text


def test_mp3_stems_are_loaded_with_a_warning_that_they_are_not_sample_aligned(
    tmp_path: Path, write_song, caplog, load: Callable[..., Multitrack]
) -> None:
    folder = write_song(tmp_path / "song", {"vocals.wav": tone(440, sr=44_100)}, sr=44_100)
    with AudioFile(str(folder / "drums.mp3"), "w", 44_100, 1, quality=192) as f:
        f.write(tone(80, sr=44_100))
    with caplog.at_level(logging.WARNING):
        song = load(folder, policy=LoadPolicy(on_length_mismatch="trim"))  # decoded, the MP3 runs long
    assert set(song.stems) == {"vocals", "drums"}
    assert [r.getMessage().split(":")[0] for r in caplog.records if "MP3" in r.getMessage()] == [
        str(folder / "drums.mp3")
    ]


def test_different_lengths_are_refused_padded_or_trimmed(
    tmp_path: Path, write_song, load: Callable[..., Multitrack]
) -> None:
    folder = write_song(tmp_path / "song", {"vocals.wav": tone(440, 1.0), "bass.wav": tone(80, 0.5)})
    with pytest.raises(StemsError, match=r"different lengths.*vocals.wav: 22050.*on_length_mismatch"):
        load(folder)
    padded = load(folder, policy=LoadPolicy(on_length_mismatch="pad"))
    assert padded.num_samples == SR and not np.any(padded.stems["bass"][:, SR // 2 :])
    assert load(folder, policy=LoadPolicy(on_length_mismatch="trim")).num_samples == SR // 2


def test_silent_stem_is_refused_or_dropped(tmp_path: Path, write_song, load: Callable[..., Multitrack]) -> None:
    folder = write_song(tmp_path / "song", {"vocals.wav": tone(440), "bass.wav": np.zeros((1, SR), np.float32)})
    with pytest.raises(StemsError, match=r"bass.wav is silent.*on_silent='drop'"):
        load(folder)
    assert load(folder, policy=LoadPolicy(on_silent="drop")).roles == ("vocals",)
    assert load(folder, policy=LoadPolicy(on_silent="keep")).roles == ("vocals", "bass")


def test_clipped_stem_is_loaded_with_a_warning(
    tmp_path: Path, write_song, caplog, load: Callable[..., Multitrack]
) -> None:
    folder = write_song(tmp_path / "song", {"vocals.wav": np.clip(tone(440, amp=3.0), -1, 1)})
    with caplog.at_level(logging.WARNING):
        load(folder)
    assert "looks clipped" in caplog.text


def test_invalid_policy_is_refused() -> None:
    with pytest.raises(ValueError, match="on_silent must be one of"):
        LoadPolicy(on_silent="ignore")  # type: ignore[arg-type]


# --- collections -------------------------------------------------------------------------------------------------


def test_unknown_source_and_split_are_refused(tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match="unknown data source 'spotify'"):
        list_songs("spotify")
    with pytest.raises(DatasetError, match="unknown split 'dev'"):
        list_songs("folder", tmp_path, split="dev")


def test_source_without_path_is_refused() -> None:
    with pytest.raises(DatasetError, match="needs a path"):
        list_songs("musdb18hq")


def test_folder_collection_lists_song_folders(tmp_path: Path, write_song) -> None:
    for i in range(5):
        write_song(tmp_path / f"song{i}", {"vocals.wav": tone(440, 0.2)})
    songs = list_songs("folder", tmp_path)
    assert [s.name for s in songs] == [f"song{i}" for i in range(5)]
    assert songs[0].load().roles == ("vocals",)


def test_missing_and_empty_collections_are_refused(tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match="does not exist"):
        list_songs("folder", tmp_path / "nope")
    with pytest.raises(DatasetError, match="holds no songs"):
        list_songs("folder", tmp_path)


def test_a_file_written_in_blocks_appears_whole_or_not_at_all(tmp_path: Path) -> None:
    from mixenv.data.audio import AudioReader, AudioWriter

    audio = tone(440, 1.0, channels=2)
    with AudioWriter(tmp_path / "a.wav", SR, 2, bit_depth=32) as f:
        for start in range(0, SR, 1000):
            f.write(audio[:, start : start + 1000])
            assert not (tmp_path / "a.wav").exists()  # only under a temporary name until it is finished
    np.testing.assert_array_equal(read_audio(tmp_path / "a.wav"), audio)
    with pytest.raises(KeyboardInterrupt), AudioWriter(tmp_path / "b.wav", SR, 2) as f:
        f.write(audio)
        raise KeyboardInterrupt
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.wav"]
    with AudioReader(tmp_path / "a.wav") as f:  # a reader gives silence past the end, so stems stay side by side
        f.seek(SR - 10)
        tail = f.read(100)
    np.testing.assert_array_equal(tail[:, :10], audio[:, -10:])
    assert tail.shape == (2, 100) and not tail[:, 10:].any()
