"""Turning a song's files into a :class:`Multitrack` under an explicit policy for rates, lengths and silence.

Every loader (folder, MUSDB18-HQ, MedleyDB, the synthetic corpus) ends here, so a mismatch is handled the same
way whatever the source: refused with a message that names the file and the option that would accept it, or
fixed (resampled, padded, trimmed, dropped) with a logged warning. Nothing is changed silently.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Literal

import numpy as np

from mixenv.data.audio import AudioReader, audio_info, read_audio
from mixenv.data.multitrack import Multitrack
from mixenv.loudness import peak_dbfs
from mixenv.params import MixSettings

log = logging.getLogger(__name__)

CLIPPED_FRACTION = 1e-3
"""A stem with more than this fraction of its samples at full scale is reported as clipped."""


@dataclass(frozen=True)
class LoadPolicy:
    """What to do when a song's files disagree or a stem is silent.

    Attributes:
        sample_rate: Rate to load at. ``None``: the song's own rate (that of its first stem).
        on_rate_mismatch: A file at another rate is an ``"error"`` or gets ``"resample"``-d (logged).
        on_length_mismatch: Stems of different lengths are an ``"error"``, zero-``"pad"``-ed to the longest or
            ``"trim"``-med to the shortest (logged).
        on_silent: A stem whose peak is below ``silence_dbfs`` is an ``"error"``, ``"drop"``-ped from the song
            (its role becomes absent; logged), or ``"keep"``-t.
        silence_dbfs: Peak level under which a stem counts as silent.
        on_truncated: A file whose data ends before its header says is an ``"error"``, or is read at the length
            it holds (``"shorten"``, logged); the song's lengths then differ, which ``on_length_mismatch`` decides.
        on_multichannel: A file with more than two channels is an ``"error"`` or is ``"downmix"``-ed to stereo
            (logged; :func:`mixenv.data.audio.downmix`).
    """

    sample_rate: int | None = None
    on_rate_mismatch: Literal["error", "resample"] = "error"
    on_length_mismatch: Literal["error", "pad", "trim"] = "error"
    on_silent: Literal["error", "drop", "keep"] = "error"
    silence_dbfs: float = -80.0
    on_truncated: Literal["error", "shorten"] = "error"
    on_multichannel: Literal["error", "downmix"] = "error"

    def __post_init__(self) -> None:
        for name, allowed in (
            ("on_rate_mismatch", ("error", "resample")),
            ("on_length_mismatch", ("error", "pad", "trim")),
            ("on_silent", ("error", "drop", "keep")),
            ("on_truncated", ("error", "shorten")),
            ("on_multichannel", ("error", "downmix")),
        ):
            if getattr(self, name) not in allowed:
                raise ValueError(f"LoadPolicy.{name} must be one of {allowed}, got {getattr(self, name)!r}")


class StemsError(ValueError):
    """A song's stems that cannot be loaded under the policy; the message names the file and the fix."""


def load_stems(
    name: str,
    role_files: Mapping[str, Sequence[Path]],
    *,
    reference_file: Path | None = None,
    settings: MixSettings | None = None,
    source: str,
    policy: LoadPolicy | None = None,
    segment: tuple[int, int] | None = None,
) -> Multitrack:
    """Read the files of one song into a multitrack.

    Args:
        name: Song name.
        role_files: Role -> the files that make up that role (several are summed, as MedleyDB needs).
        reference_file: Optional reference mix.
        settings: Optional ground-truth settings.
        source: The source tag for the record.
        policy: Rate, length and silence handling (default: :class:`LoadPolicy`'s defaults, which refuse
            every mismatch).
        segment: ``(start, num_samples)`` at the loading rate to read only part of every file (an env clip of a
            long song); ``None`` reads everything.

    Raises:
        StemsError: For a rate or length mismatch the policy refuses, a silent stem under ``on_silent="error"``,
            or a song left with no stems.
        mixenv.data.audio.AudioFileError: For a missing or undecodable file.
    """
    policy = policy or LoadPolicy()
    files = [f for fs in role_files.values() for f in fs] + ([reference_file] if reference_file else [])
    if not files:
        raise StemsError(f"song {name!r} has no stem files")
    rate = _song_rate(files, policy)
    _warn_mp3(role_files)
    start, count = segment if segment is not None else (0, None)

    def read(file: Path) -> np.ndarray:
        return read_audio(
            file,
            sample_rate=rate,
            start=start,
            num_samples=count,
            on_truncated=policy.on_truncated,
            on_multichannel=policy.on_multichannel,
        )

    audio = {role: _sum([read(f) for f in fs]) for role, fs in role_files.items() if fs}
    reference = read(reference_file) if reference_file else None
    lengths = {f: a.shape[1] for f, a in zip(_first_files(role_files).values(), audio.values(), strict=True)}
    if reference is not None and reference_file is not None:
        lengths[reference_file] = reference.shape[1]
    target = _song_length(name, lengths, policy)
    audio = {role: _fit(a, target) for role, a in audio.items()}
    reference = None if reference is None else _fit(reference, target)
    stems = {
        role: a
        for role, a in audio.items()
        if _keep_stem(role, role_files[role], peak_dbfs(a), float(np.mean(np.abs(a) >= 0.999)), policy)
    }
    if not stems:
        raise StemsError(f"song {name!r}: every stem was silent and dropped; nothing is left to mix")
    return Multitrack(name, rate, stems, reference=reference, settings=settings, source=source)


@dataclass(frozen=True)
class SongFiles:
    """A song read from its files block by block, never whole: how a song too long for memory is mixed.

    Made by :func:`open_stems`, which checks the files as :func:`load_stems` does. Attributes as
    :class:`~mixenv.data.multitrack.Multitrack`'s, with the files in place of the audio.
    """

    name: str
    sample_rate: int
    num_samples: int
    role_files: Mapping[str, tuple[Path, ...]]
    reference_file: Path | None
    settings: MixSettings | None
    source: str
    policy: LoadPolicy

    @property
    def roles(self) -> tuple[str, ...]:
        """The roles present in this song."""
        return tuple(self.role_files)

    @property
    def duration_seconds(self) -> float:
        """Length in seconds."""
        return self.num_samples / self.sample_rate

    def segment(self, start: int, num_samples: int) -> Multitrack:
        """The samples ``[start, start + num_samples)`` of every stem and the reference, read from the files."""
        if start < 0 or num_samples <= 0 or start + num_samples > self.num_samples:
            raise StemsError(
                f"song {self.name!r}: segment [{start}, {start + num_samples}) is outside its {self.num_samples} "
                "samples; use a shorter clip or a longer song"
            )
        return next(self.blocks(num_samples, start=start))

    def blocks(self, size: int, *, start: int = 0) -> Iterator[Multitrack]:
        """The song from ``start`` in consecutive parts of ``size`` samples (the last one shorter), each a
        multitrack of its own (a file's role padded with silence past its end, as the policy's padding does)."""
        with contextlib.ExitStack() as stack:

            def reader(path: Path) -> AudioReader:
                opened = stack.enter_context(
                    AudioReader(
                        path,
                        sample_rate=self.sample_rate,
                        on_truncated=self.policy.on_truncated,
                        on_multichannel=self.policy.on_multichannel,
                    )
                )
                if start:
                    opened.seek(start)
                return opened

            readers = {role: [reader(f) for f in files] for role, files in self.role_files.items()}
            reference = reader(self.reference_file) if self.reference_file is not None else None
            for begin in range(start, self.num_samples, size):
                count = min(size, self.num_samples - begin)
                stems = {role: _sum([r.read(count) for r in rs]) for role, rs in readers.items()}
                yield Multitrack(
                    self.name,
                    self.sample_rate,
                    stems,
                    reference=None if reference is None else reference.read(count),
                    settings=self.settings,
                    source=self.source,
                )

    def load(self) -> Multitrack:
        """The whole song in memory (as :func:`load_stems` would give it)."""
        return self.segment(0, self.num_samples)

    def without_reference(self) -> SongFiles:
        """The same song without its reference mix."""
        return replace(self, reference_file=None)


SCAN_SECONDS = 10.0
"""Block length of the pass that checks a song's files for silence and clipping."""


def open_stems(
    name: str,
    role_files: Mapping[str, Sequence[Path]],
    *,
    reference_file: Path | None = None,
    settings: MixSettings | None = None,
    source: str,
    policy: LoadPolicy | None = None,
) -> SongFiles:
    """Check a song's files as :func:`load_stems` does, without keeping their audio: rates, cut-short and
    multichannel files and lengths from the headers; silent and clipped stems in one pass over the audio, block by
    block, so memory stays bounded whatever the song's length.

    Raises:
        StemsError, mixenv.data.audio.AudioFileError: As :func:`load_stems` raises them.
    """
    policy = policy or LoadPolicy()
    role_files = {role: tuple(fs) for role, fs in role_files.items() if fs}
    files = [f for fs in role_files.values() for f in fs] + ([reference_file] if reference_file else [])
    if not files:
        raise StemsError(f"song {name!r} has no stem files")
    rate = _song_rate(files, policy)
    _warn_mp3(role_files)

    def held(path: Path) -> int:
        with AudioReader(
            path, sample_rate=rate, on_truncated=policy.on_truncated, on_multichannel=policy.on_multichannel
        ) as f:
            return f.num_samples

    lengths = {fs[0]: max(held(f) for f in fs) for fs in role_files.values()}
    if reference_file is not None:
        lengths[reference_file] = held(reference_file)
    length = _song_length(name, lengths, policy)
    song = SongFiles(name, rate, length, role_files, reference_file, settings, source, policy)
    peaks, full_scale, values = (
        dict.fromkeys(role_files, 0.0),
        dict.fromkeys(role_files, 0),
        dict.fromkeys(role_files, 0),
    )
    for block in song.without_reference().blocks(round(SCAN_SECONDS * rate)):
        for role, audio in block.stems.items():
            peaks[role] = max(peaks[role], float(np.max(np.abs(audio))))
            full_scale[role] += int(np.count_nonzero(np.abs(audio) >= 0.999))
            values[role] += audio.size
    kept = {
        role: files
        for role, files in role_files.items()
        if _keep_stem(role, files, 20.0 * np.log10(max(peaks[role], 1e-10)), full_scale[role] / values[role], policy)
    }
    if not kept:
        raise StemsError(f"song {name!r}: every stem was silent and dropped; nothing is left to mix")
    return replace(song, role_files=kept)


def _song_rate(files: Sequence[Path], policy: LoadPolicy) -> int:
    rates = {f: audio_info(f).sample_rate for f in files}
    rate = policy.sample_rate or rates[files[0]]
    odd = {f: r for f, r in rates.items() if r != rate}
    if odd and policy.on_rate_mismatch == "error":
        f, r = next(iter(odd.items()))
        raise StemsError(
            f"{f} is at {r} Hz but the song is loaded at {rate} Hz; resample the file, or load with "
            "LoadPolicy(on_rate_mismatch='resample') (CLI: --resample) to resample it on load"
        )
    for f, r in odd.items():
        log.warning("%s: resampling from %d Hz to %d Hz", f, r, rate)
    return rate


def _warn_mp3(role_files: Mapping[str, Sequence[Path]]) -> None:
    """Say that MP3 stems are not sample-aligned: decoded, one starts the encoder's delay late (1 104 samples, 25 ms,
    for a 44.1 kHz file from pedalboard's encoder, 2026-12-05) and runs its padding long, and no stem of a lossless
    format does, so against the others it plays late by that much (a flam on drums)."""
    for path in (f for files in role_files.values() for f in files if f.suffix.lower() == ".mp3"):
        log.warning(
            "%s: an MP3 stem starts about 25 ms late against lossless ones (the encoder's delay) and runs long; "
            "export the stems as WAV or FLAC for a sample-aligned mix",
            path,
        )


def _sum(parts: list[np.ndarray]) -> np.ndarray:
    """Sum audio arrays; mono parts are spread to stereo when any part is stereo; lengths pad to the longest."""
    if len(parts) == 1:
        return parts[0]
    channels = max(p.shape[0] for p in parts)
    out = np.zeros((channels, max(p.shape[1] for p in parts)), dtype=np.float32)
    for p in parts:
        out[:, : p.shape[1]] += p
    return out


def _first_files(role_files: Mapping[str, Sequence[Path]]) -> dict[str, Path]:
    return {role: fs[0] for role, fs in role_files.items() if fs}


def _keep_stem(role: str, files: Sequence[Path], peak_db: float, full_scale: float, policy: LoadPolicy) -> bool:
    """Whether a role's stem stays in the song, by its peak level and share of full-scale samples (logged)."""
    where = ", ".join(str(f) for f in files)
    if peak_db < policy.silence_dbfs:
        if policy.on_silent == "error":
            raise StemsError(
                f"stem {where} is silent (peak {peak_db:.0f} dBFS); remove it, or load with "
                "LoadPolicy(on_silent='drop') (CLI: --on-silent drop) to treat the role as absent"
            )
        if policy.on_silent == "drop":
            log.warning("%s: silent stem (peak %.0f dBFS) dropped; role %r is absent", where, peak_db, role)
            return False
    if full_scale > CLIPPED_FRACTION:
        log.warning("%s: %.2f%% of samples are at full scale; the stem looks clipped", where, 100 * full_scale)
    return True


def _song_length(name: str, lengths: Mapping[Path, int], policy: LoadPolicy) -> int:
    """The song's length from its files' (first file of each role, and the reference), as the policy aligns them."""
    if len(set(lengths.values())) <= 1:
        return next(iter(lengths.values()))
    longest, shortest = max(lengths.values()), min(lengths.values())
    summary = ", ".join(f"{f.name}: {n}" for f, n in lengths.items())
    if policy.on_length_mismatch == "error":
        raise StemsError(
            f"song {name!r}: files have different lengths in samples ({summary}); trim them to one length, or load "
            "with LoadPolicy(on_length_mismatch='pad' or 'trim') (CLI: --on-length-mismatch pad|trim)"
        )
    target = longest if policy.on_length_mismatch == "pad" else shortest
    log.warning("song %r: lengths differ (%s); %s to %d samples", name, summary, policy.on_length_mismatch, target)
    return target


def _fit(audio: np.ndarray, samples: int) -> np.ndarray:
    """``audio`` zero-padded or trimmed to ``samples``."""
    if audio.shape[1] < samples:
        return np.pad(audio, ((0, 0), (0, samples - audio.shape[1])))
    return audio[:, :samples]
