"""Audio file I/O on ``pedalboard.io.AudioFile``: arrays are float32 ``(channels, samples)``, writes are atomic."""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from pedalboard.io import AudioFile

from mixenv.data.atomic import atomic_path

AUDIO_SUFFIXES: tuple[str, ...] = (".wav", ".flac", ".aif", ".aiff", ".mp3", ".ogg")
"""File types the loaders pick up in a folder (what pedalboard decodes on every platform)."""

log = logging.getLogger(__name__)


class AudioFileError(ValueError):
    """An audio file that is missing, unreadable or unsuitable; the message names the file and the fix."""


@dataclass(frozen=True)
class AudioInfo:
    """What a file holds, read from its header without decoding the audio."""

    path: Path
    sample_rate: int
    num_channels: int
    num_samples: int


def audio_info(path: str | os.PathLike[str]) -> AudioInfo:
    """Header information of an audio file.

    Raises:
        AudioFileError: If the file does not exist or cannot be decoded.
    """
    path = Path(path)
    with _open(path) as f:
        return AudioInfo(path, _rate(f.samplerate, path), f.num_channels, f.frames)


def read_audio(
    path: str | os.PathLike[str],
    *,
    sample_rate: int | None = None,
    start: int = 0,
    num_samples: int | None = None,
) -> np.ndarray:
    """Read (part of) an audio file as float32 ``(channels, samples)``.

    Args:
        path: The file.
        sample_rate: Resample to this rate (high-quality, pedalboard's resampler) if the file's differs. Callers
            decide whether a mismatch is allowed; see :class:`mixenv.data.stems.LoadPolicy`.
        start: First sample to read, counted at the output rate.
        num_samples: How many samples to read; ``None`` reads to the end. Fewer come back if the file is shorter.

    Raises:
        AudioFileError: If the file does not exist, cannot be decoded, or holds no samples.
    """
    path = Path(path)
    with _open(path) as f:
        rate = _rate(f.samplerate, path)
        reader = f.resampled_to(sample_rate) if sample_rate is not None and sample_rate != rate else f
        total = int(reader.frames)
        if start:
            reader.seek(min(start, total))
        count = total - min(start, total) if num_samples is None else min(num_samples, total - min(start, total))
        try:
            audio = reader.read(count)
        except Exception as err:  # pedalboard raises RuntimeError/ValueError for truncated data
            raise AudioFileError(
                f"cannot decode {path} ({err}); the file is damaged: re-export or re-download it"
            ) from err
    if audio.shape[1] == 0:
        raise AudioFileError(f"{path} holds no audio samples in the range asked for; check the file or the offsets")
    return np.ascontiguousarray(audio, dtype=np.float32)


def write_audio(path: str | os.PathLike[str], audio: np.ndarray, sample_rate: int, *, bit_depth: int = 16) -> int:
    """Write float ``(channels, samples)`` audio atomically; returns how many samples were clipped at full scale.

    Integer formats clip values outside [-1, 1]; a non-zero return is also logged, so clipping is never silent.
    """
    audio = np.asarray(audio, dtype=np.float32)
    if audio.ndim != 2:
        raise ValueError(f"expected audio shaped (channels, samples), got shape {audio.shape}")
    if not np.isfinite(audio).all():
        raise ValueError(f"refusing to write non-finite samples to {path}")
    clipped = int(np.count_nonzero(np.abs(audio) > 1.0)) if bit_depth != 32 else 0
    if clipped:
        log.warning("%s: %d samples beyond full scale were clipped on writing", path, clipped)
    with (
        atomic_path(path) as tmp,
        AudioFile(str(tmp), "w", samplerate=int(sample_rate), num_channels=audio.shape[0], bit_depth=bit_depth) as f,
    ):
        f.write(audio)
    return clipped


def _open(path: Path) -> AudioFile:
    if not path.is_file():
        raise AudioFileError(f"{path} does not exist or is not a file; check the path")
    try:
        return AudioFile(str(path))
    except Exception as err:  # pedalboard raises ValueError/RuntimeError with its own wording
        raise AudioFileError(
            f"cannot decode {path} ({err}); the file is damaged or not audio: re-export it as WAV or FLAC"
        ) from err


def _rate(samplerate: float, path: Path) -> int:
    if int(samplerate) != samplerate:
        raise AudioFileError(f"{path} has a fractional sample rate {samplerate}; resample it to an integer rate")
    return int(samplerate)
