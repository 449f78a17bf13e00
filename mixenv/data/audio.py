"""Audio file I/O on ``pedalboard.io.AudioFile``: arrays are float32 ``(channels, samples)``, writes are atomic."""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Literal

import numpy as np
from pedalboard.io import AudioFile, ReadableAudioFile

from mixenv.data.atomic import atomic_path
from mixenv.data.integrity import stored_frames

AUDIO_SUFFIXES: tuple[str, ...] = (".wav", ".flac", ".aif", ".aiff", ".mp3", ".ogg")
"""File types the loaders pick up in a folder (what pedalboard decodes on every platform)."""

MAX_CHANNELS = 2
"""Channels a stem may have: the channel strips are mono or stereo; more are refused or folded down."""

log = logging.getLogger(__name__)


class AudioFileError(ValueError):
    """An audio file that is missing, unreadable or unsuitable; the message names the file and the fix."""


@dataclass(frozen=True)
class AudioInfo:
    """What a file holds, read from its header without decoding the audio.

    ``num_samples`` counts the frames whose bytes are present; ``declared_samples`` is what the header claims,
    larger for a file cut short (see :mod:`mixenv.data.integrity`).
    """

    path: Path
    sample_rate: int
    num_channels: int
    num_samples: int
    declared_samples: int

    @property
    def truncated(self) -> bool:
        return self.num_samples < self.declared_samples


def audio_info(path: str | os.PathLike[str]) -> AudioInfo:
    """Header information of an audio file.

    Raises:
        AudioFileError: If the file does not exist or cannot be decoded.
    """
    path = Path(path)
    with _open(path) as f:
        declared = int(f.frames)
        return AudioInfo(path, _rate(f.samplerate, path), f.num_channels, _held(path, declared), declared)


def read_audio(
    path: str | os.PathLike[str],
    *,
    sample_rate: int | None = None,
    start: int = 0,
    num_samples: int | None = None,
    on_truncated: Literal["error", "shorten"] = "error",
    on_multichannel: Literal["error", "downmix"] = "error",
) -> np.ndarray:
    """Read (part of) an audio file as float32 ``(channels, samples)``.

    Args:
        path: The file.
        sample_rate: Resample to this rate (high-quality, pedalboard's resampler) if the file's differs. Callers
            decide whether a mismatch is allowed; see :class:`mixenv.data.stems.LoadPolicy`.
        start: First sample to read, counted at the output rate.
        num_samples: How many samples to read; ``None`` reads to the end. Fewer come back if the file is shorter.
        on_truncated: A file whose data ends before its header says is an ``"error"``, or is read at the length
            it holds (``"shorten"``, logged) rather than padded with silence as decoders do.
        on_multichannel: A file with more than two channels is an ``"error"``, or is folded down to stereo
            (``"downmix"``, logged; see :func:`downmix`).

    Raises:
        AudioFileError: If the file does not exist, cannot be decoded, holds no samples, or is cut short or
            multichannel under the ``"error"`` choices.
    """
    with AudioReader(path, sample_rate=sample_rate, on_truncated=on_truncated, on_multichannel=on_multichannel) as f:
        first = min(start, f.num_samples)
        count = f.num_samples - first if num_samples is None else min(num_samples, f.num_samples - first)
        if first:
            f.seek(first)
        audio = f.read(count)
    if audio.shape[1] == 0:
        raise AudioFileError(f"{path} holds no audio samples in the range asked for; check the file or the offsets")
    return audio


class AudioReader:
    """An audio file open for reading in blocks, checked as :func:`read_audio` checks it (same arguments).

    ``num_samples`` is what it holds at the output rate (a file cut short: what its data holds); :meth:`read`
    gives float32 ``(channels, samples)`` folded to at most two channels, and zeros past the end, so the stems of
    a song can be read side by side in equal blocks whatever their lengths.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        sample_rate: int | None = None,
        on_truncated: Literal["error", "shorten"] = "error",
        on_multichannel: Literal["error", "downmix"] = "error",
    ) -> None:
        self.path = Path(path)
        self._stack = contextlib.ExitStack()
        f = self._stack.enter_context(_open(self.path))
        try:
            rate = _rate(f.samplerate, self.path)
            declared = int(f.frames)
            held = _held(self.path, declared)
            if held < declared:
                _truncated(self.path, rate, declared, held, on_truncated)
            if f.num_channels > MAX_CHANNELS and on_multichannel == "error":
                raise AudioFileError(
                    f"{self.path} has {f.num_channels} channels; stems must be mono or stereo: export a stereo stem, "
                    "or load with LoadPolicy(on_multichannel='downmix') (CLI: --downmix) to fold it down to stereo"
                )
        except BaseException:
            self._stack.close()
            raise
        self.sample_rate = sample_rate or rate
        self.num_channels = min(f.num_channels, MAX_CHANNELS)
        self._folded = f.num_channels > MAX_CHANNELS
        self._reader = f.resampled_to(self.sample_rate) if self.sample_rate != rate else f
        # The file's duration at the output rate, rounded: pedalboard's resampler gives one sample fewer between
        # 44.1 and 48 kHz (288 000 samples at 48 kHz come out as 264 599, not 264 600), which made stems of one
        # length at those two rates differ by a sample after resampling; the last is read as silence.
        total = int(f.frames) if self._reader is f else (int(f.frames) * self.sample_rate + rate // 2) // rate
        if held < declared:  # read only what is there: the decoder would pad the rest with silence
            total = min(total, -(-held * self.sample_rate // rate))
        self.num_samples = total
        self._position = 0

    def __enter__(self) -> AudioReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Close the file."""
        self._stack.close()

    def seek(self, position: int) -> None:
        """Continue reading at sample ``position`` (of the output rate)."""
        self._reader.seek(min(position, self.num_samples))
        self._position = position

    def read(self, count: int) -> np.ndarray:
        """The next ``count`` samples, zeros past the end of the file.

        Raises:
            AudioFileError: If the data cannot be decoded (a damaged file).
        """
        held = max(0, min(count, self.num_samples - self._position))
        try:
            audio = self._reader.read(held) if held else np.zeros((self.num_channels, 0), np.float32)
        except Exception as err:  # pedalboard raises RuntimeError/ValueError for truncated data
            raise AudioFileError(
                f"cannot decode {self.path} ({err}); the file is damaged: re-export or re-download it"
            ) from err
        if self._folded:
            if self._position == 0:
                log.warning("%s: %d channels folded down to stereo", self.path, audio.shape[0])
            audio = downmix(audio)
        self._position += count
        if audio.shape[1] < count:
            audio = np.pad(audio, ((0, 0), (0, count - audio.shape[1])))
        return np.ascontiguousarray(audio, dtype=np.float32)


def downmix(audio: np.ndarray) -> np.ndarray:
    """Fold ``(channels > 2, samples)`` audio to stereo.

    Six channels are read as 5.1 in the WAV order (L, R, C, LFE, Ls, Rs) and folded as ITU-R BS.775 does: the
    centre and each surround at -3 dB into their side, the LFE left out. Other counts have no agreed layout;
    they alternate left and right, each side the mean of its channels.
    """
    if audio.shape[0] == 6:
        c = np.float32(np.sqrt(0.5))
        return np.stack([audio[0] + c * (audio[2] + audio[4]), audio[1] + c * (audio[2] + audio[5])])
    return np.stack([audio[0::2].mean(axis=0), audio[1::2].mean(axis=0)])


def write_audio(path: str | os.PathLike[str], audio: np.ndarray, sample_rate: int, *, bit_depth: int = 16) -> int:
    """Write float ``(channels, samples)`` audio atomically; returns how many samples were clipped at full scale.

    Integer formats clip values outside [-1, 1]; a non-zero return is also logged, so clipping is never silent.
    """
    audio = np.asarray(audio, dtype=np.float32)
    if audio.ndim != 2:
        raise ValueError(f"expected audio shaped (channels, samples), got shape {audio.shape}")
    with AudioWriter(path, sample_rate, audio.shape[0], bit_depth=bit_depth) as f:
        f.write(audio)
    return f.clipped


class AudioWriter:
    """An audio file written block by block that appears under its name only when closed without an error (an
    interrupted write leaves nothing), as :func:`write_audio` writes it.

    Attributes:
        clipped: Samples beyond full scale so far, which an integer format clips (logged on closing).
    """

    def __init__(
        self, path: str | os.PathLike[str], sample_rate: int, num_channels: int, *, bit_depth: int = 16
    ) -> None:
        self.path = Path(path)
        self.bit_depth = bit_depth
        self.clipped = 0
        self._stack = contextlib.ExitStack()
        try:
            tmp = self._stack.enter_context(atomic_path(self.path))
            target = _name_or_handle(tmp, "wb", self._stack)
            options = {"format": tmp.suffix[1:]} if not isinstance(target, str) else {}
            self._file = AudioFile(
                target, "w", samplerate=int(sample_rate), num_channels=num_channels, bit_depth=bit_depth, **options
            )
        except BaseException:
            self._stack.close()
            raise

    def __enter__(self) -> AudioWriter:
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None, trace: object) -> None:
        try:
            self._file.close()  # before the rename: the header is finished on closing
        except BaseException as failure:
            self._stack.__exit__(type(failure), failure, failure.__traceback__)
            raise
        if kind is None and self.clipped:
            log.warning("%s: %d samples beyond full scale were clipped on writing", self.path, self.clipped)
        self._stack.__exit__(kind, error, trace)

    def write(self, audio: np.ndarray) -> None:
        """Append float ``(channels, samples)`` audio.

        Raises:
            ValueError: For non-finite samples (the file is then not written).
        """
        audio = np.asarray(audio, dtype=np.float32)
        if not np.isfinite(audio).all():
            raise ValueError(f"refusing to write non-finite samples to {self.path}")
        if self.bit_depth != 32:
            self.clipped += int(np.count_nonzero(np.abs(audio) > 1.0))
        self._file.write(audio)


def _held(path: Path, declared: int) -> int:
    stored = stored_frames(path)
    return declared if stored is None else min(declared, stored.held)


def _truncated(path: Path, rate: int, declared: int, held: int, on_truncated: str) -> None:
    what = f"its header says {declared} samples ({declared / rate:.2f} s), its data holds {held} ({held / rate:.2f} s)"
    if on_truncated == "error":
        raise AudioFileError(
            f"{path} is cut short: {what}; re-export or re-copy it, or load with LoadPolicy(on_truncated='shorten') "
            "(CLI: --on-truncated shorten) to use the part it holds"
        )
    log.warning("%s is cut short: %s; reading the %d samples it holds", path, what, held)


@contextlib.contextmanager
def _open(path: Path) -> Iterator[ReadableAudioFile]:
    if not path.is_file():
        raise AudioFileError(f"{path} does not exist or is not a file; check the path")
    with contextlib.ExitStack() as stack:
        try:
            f = stack.enter_context(AudioFile(_name_or_handle(path, "rb", stack)))
        except Exception as err:  # pedalboard raises ValueError/RuntimeError with its own wording
            raise AudioFileError(
                f"cannot decode {path} ({err}); the file is damaged or not audio: re-export it as WAV or FLAC"
            ) from err
        yield f


def _name_or_handle(path: Path, mode: str, stack: contextlib.ExitStack) -> str | BinaryIO:
    """The path as pedalboard takes it: a UTF-8 name, or else (a name in another encoding) an open file."""
    try:
        str(path).encode("utf-8")
    except UnicodeEncodeError:
        return stack.enter_context(path.open(mode))
    return str(path)


def _rate(samplerate: float, path: Path) -> int:
    if int(samplerate) != samplerate:
        raise AudioFileError(f"{path} has a fractional sample rate {samplerate}; resample it to an integer rate")
    return int(samplerate)
