"""Files as users have them: every format and bit depth, files cut short, 5.1 files, and fuzzed bytes.

A file whose data ends before its header says must be refused by name (decoders pad it with silence), or read at
its real length when asked; nothing a file holds may crash, hang or exhaust memory.
"""

from __future__ import annotations

import logging
import os
import struct
import time
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pedalboard.io import AudioFile

from mixenv.cli import main
from mixenv.data import AudioFileError, LoadPolicy, load_folder, open_folder, read_audio, write_audio
from mixenv.data.audio import audio_info, downmix
from mixenv.data.integrity import stored_frames
from mixenv.params import ParamSpace
from mixenv.presets import save_preset

from conftest import SR, noise

FORMATS = [("wav", 16), ("wav", 24), ("wav", 32), ("flac", 16), ("flac", 24), ("aiff", 16), ("aiff", 24)]


def _write(path: Path, audio: np.ndarray, rate: int = SR, bit_depth: int | None = None) -> bytes:
    kwargs = {} if bit_depth is None else {"bit_depth": bit_depth}
    with AudioFile(str(path), "w", samplerate=rate, num_channels=audio.shape[0], **kwargs) as f:
        f.write(audio)
    return path.read_bytes()


def _cut_wav(path: Path, seconds: float = 1.0, keep_seconds: float = 0.03) -> Path:
    """The issue's case: a WAV whose header says ``seconds`` while its data holds ``keep_seconds``."""
    data = _write(path, noise(seconds, 0.1, channels=2), bit_depth=16)
    path.write_bytes(data[: data.index(b"data") + 8 + 4 * round(keep_seconds * SR)])
    return path


@pytest.mark.parametrize(("suffix", "bit_depth"), FORMATS)
def test_whole_files_of_every_format_hold_what_they_declare(tmp_path: Path, suffix: str, bit_depth: int) -> None:
    audio = noise(0.5, 0.1, channels=2)
    path = tmp_path / f"a.{suffix}"
    _write(path, audio, bit_depth=bit_depth)
    assert stored_frames(path) is not None and not stored_frames(path).truncated
    got = read_audio(path)
    assert got.shape == audio.shape
    np.testing.assert_allclose(got, audio, atol=2.0 ** (1 - bit_depth) * 2)


@pytest.mark.parametrize(("suffix", "bit_depth"), FORMATS)
def test_a_file_cut_in_half_holds_half(tmp_path: Path, suffix: str, bit_depth: int) -> None:
    path = tmp_path / f"a.{suffix}"
    data = _write(path, noise(1.0, 0.1, channels=2), bit_depth=bit_depth)
    path.write_bytes(data[: len(data) // 2])
    stored = stored_frames(path)
    assert stored is not None and stored.declared == SR
    # Half the bytes hold about half the frames (FLAC to its last whole frame of 4096).
    assert SR // 2 - 4096 - 64 <= stored.held <= SR // 2 + 64


@pytest.mark.parametrize("suffix", ["mp3", "ogg"])
def test_formats_the_decoder_counts_are_left_to_it(tmp_path: Path, suffix: str) -> None:
    path = tmp_path / f"a.{suffix}"
    _write(path, noise(0.5, 0.1, channels=2, sr=44_100), rate=44_100)
    assert stored_frames(path) is None
    assert read_audio(path).shape[1] == pytest.approx(22_050, abs=2_400)  # MP3 adds encoder delay


def test_a_wav_cut_short_is_refused_by_name(tmp_path: Path) -> None:
    path = _cut_wav(tmp_path / "vox.wav")
    info = audio_info(path)
    assert (info.declared_samples, info.num_samples, info.truncated) == (SR, round(0.03 * SR), True)
    with pytest.raises(AudioFileError, match=r"vox\.wav is cut short.*1\.00 s.*0\.03 s.*on_truncated='shorten'"):
        read_audio(path)


def test_a_wav_cut_short_can_be_read_at_its_real_length(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    path = _cut_wav(tmp_path / "vox.wav")
    with caplog.at_level(logging.WARNING):
        audio = read_audio(path, on_truncated="shorten")
    assert audio.shape == (2, round(0.03 * SR)) and np.abs(audio).min(axis=0).max() > 0
    assert "cut short" in caplog.text
    resampled = read_audio(path, sample_rate=2 * SR, on_truncated="shorten")
    assert resampled.shape[1] == pytest.approx(2 * round(0.03 * SR), abs=2)


def test_loading_and_rendering_a_folder_refuse_a_stem_cut_short(tmp_path: Path, capsys) -> None:
    song = tmp_path / "song"
    song.mkdir()
    write_audio(song / "bass.wav", noise(1.0, 0.1, channels=2), SR)
    _cut_wav(song / "vocals.wav")
    with pytest.raises(AudioFileError, match=r"vocals\.wav is cut short"):
        load_folder(song)
    policy = LoadPolicy(on_truncated="shorten", on_length_mismatch="pad")
    assert load_folder(song, policy=policy).stems["vocals"][:, round(0.03 * SR) :].max() == 0.0
    save_preset(tmp_path / "p.json", ParamSpace(("vocals", "bass")).neutral())
    render = ["render", str(song), "--settings", str(tmp_path / "p.json"), "-o", str(tmp_path / "m.wav")]
    assert main(render) == 2
    assert "vocals.wav is cut short" in capsys.readouterr().err and not (tmp_path / "m.wav").exists()
    assert main([*render, "--on-truncated", "shorten", "--on-length-mismatch", "pad"]) == 0
    mixed = ["mix", str(song), "-o", str(tmp_path / "mix.wav"), "--method", "loudness"]
    assert main(mixed) == 2
    assert "vocals.wav is cut short" in capsys.readouterr().err and not (tmp_path / "mix.wav").exists()
    assert main([*mixed, "--on-truncated", "shorten", "--on-length-mismatch", "pad"]) == 0


def test_a_five_one_file_is_refused_or_folded_down(tmp_path: Path) -> None:
    surround = np.zeros((6, SR // 10), dtype=np.float32)
    surround[0], surround[2], surround[3], surround[5] = 0.1, 0.2, 0.5, 0.3  # L, C, LFE, Rs
    write_audio(tmp_path / "pad.wav", surround, SR, bit_depth=32)
    with pytest.raises(AudioFileError, match=r"pad\.wav has 6 channels.*on_multichannel='downmix'"):
        read_audio(tmp_path / "pad.wav")
    folded = read_audio(tmp_path / "pad.wav", on_multichannel="downmix")
    half = np.sqrt(0.5)
    np.testing.assert_allclose(folded[:, 0], [0.1 + half * 0.2, half * (0.2 + 0.3)], rtol=1e-6)  # no LFE
    np.testing.assert_allclose(downmix(np.ones((3, 4), np.float32)), np.ones((2, 4)))
    with pytest.raises(ValueError, match="on_multichannel"):
        LoadPolicy(on_multichannel="fold")  # type: ignore[arg-type]


# --- fuzz: whatever the bytes, a clear error or finite audio, quickly and within a bounded allocation ---------


def _read_or_refuse(path: Path) -> None:
    start = time.monotonic()
    try:
        audio = read_audio(path, on_truncated="shorten", on_multichannel="downmix")
    except AudioFileError as err:
        assert path.name in str(err) or os.fsdecode(path) in str(err)
    else:
        assert audio.dtype == np.float32 and audio.ndim == 2 and audio.shape[0] <= 2
        assert audio.nbytes <= 8 * path.stat().st_size + 1024 * 1024  # nothing beyond what the bytes hold
    assert time.monotonic() - start < 5.0


_WHOLE = {}


def _whole(suffix: str, bit_depth: int) -> bytes:
    """A small valid file of each format, made once."""
    key = (suffix, bit_depth)
    if key not in _WHOLE:
        path = Path(os.environ.get("TMPDIR", "/tmp")) / f"mixenv-fuzz-{os.getpid()}.{suffix}"
        try:
            _WHOLE[key] = _write(path, noise(0.2, 0.1, channels=2, seed=3), bit_depth=bit_depth)
        finally:
            path.unlink(missing_ok=True)
    return _WHOLE[key]


FUZZ = settings(
    max_examples=int(os.environ.get("MIXENV_FUZZ_EXAMPLES", 40)),  # more for a deeper run
    deadline=None,  # _read_or_refuse bounds the time itself, more loosely than hypothesis's 200 ms
    suppress_health_check=[HealthCheck.function_scoped_fixture],  # each example overwrites its own file
)


@FUZZ
@given(data=st.binary(max_size=4096), suffix=st.sampled_from(["wav", "flac", "aiff", "mp3", "ogg"]))
def test_random_bytes_are_refused_cleanly(tmp_path: Path, data: bytes, suffix: str) -> None:
    path = tmp_path / f"x.{suffix}"
    path.write_bytes(data)
    _read_or_refuse(path)


@FUZZ
@given(fmt=st.sampled_from(FORMATS), fraction=st.floats(0.0, 1.0))
def test_files_truncated_anywhere_are_refused_or_read_as_held(
    tmp_path: Path, fmt: tuple[str, int], fraction: float
) -> None:
    data = _whole(*fmt)
    path = tmp_path / f"x.{fmt[0]}"
    path.write_bytes(data[: int(len(data) * fraction)])
    _read_or_refuse(path)


@FUZZ
@given(
    field=st.sampled_from(["riff_size", "channels", "rate", "block_align", "bits", "data_size"]),
    value=st.integers(0, 2**32 - 1),
)
def test_absurd_wav_header_values_never_crash_or_allocate_without_bound(tmp_path: Path, field: str, value: int) -> None:
    data = bytearray(_whole("wav", 16))
    offset, fmt = {
        "riff_size": (4, "<I"),
        "channels": (22, "<H"),
        "rate": (24, "<I"),
        "block_align": (32, "<H"),
        "bits": (34, "<H"),
        "data_size": (40, "<I"),
    }[field]
    struct.pack_into(fmt, data, offset, value % (2 ** (8 * struct.calcsize(fmt))))
    path = tmp_path / "x.wav"
    path.write_bytes(bytes(data))
    _read_or_refuse(path)


def test_non_utf8_file_names_load_and_are_named_in_errors(tmp_path: Path) -> None:
    folder = tmp_path / "song"
    folder.mkdir()
    name = os.fsdecode(b"vocals \xff take.wav")
    write_audio(folder / name, noise(0.2, 0.1), SR)
    assert load_folder(folder).roles == ("vocals",) == open_folder(folder).roles
    (folder / name).write_bytes(b"RIFF")
    for load in (load_folder, open_folder):
        with pytest.raises(AudioFileError) as err:
            load(folder)
        assert name in str(err.value)
