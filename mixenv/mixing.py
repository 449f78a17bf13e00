"""Mix and master a song end to end: decide the settings, dial them back by an intensity, render the whole song.

The entry point of ``mixenv mix`` and of :func:`mix` from Python. The methods so far are the rule-based ones
(:mod:`mixenv.balance`):

* ``loudness``: each stem to its role's loudness, the mix mastered to ``target_lufs`` (no reference needed);
* ``reference``: the bus tone matched to the reference's long-term spectrum, mastered to its loudness
  (matchering-style; the reference may be another song, of any length and rate);
* ``auto``: ``reference`` when there is a reference, else ``loudness``.

Whatever the method, the song is rendered once, whole, by the channel-strip renderer with its mastering set to
the target loudness, so the preset written beside the mix reproduces it (``mixenv render STEMS --settings
PRESET.json``).
"""

from __future__ import annotations

import os
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from mixenv.balance import BUS_LUFS, loudness_balance, match_tone
from mixenv.data import LoadPolicy, Multitrack, load_folder, read_audio
from mixenv.loudness import SILENCE_LUFS, integrated_lufs, peak_dbfs
from mixenv.params import ROLES, MixSettings, ParamSpace
from mixenv.render import Renderer

METHODS = ("auto", "loudness", "reference")


class MixError(ValueError):
    """A mix that cannot be made as asked (a method without what it needs); the message says what to pass."""


@dataclass(frozen=True)
class MixResult:
    """A finished mix and how it was made.

    Attributes:
        audio: The mastered mix, float32 ``(2, samples)`` at ``sample_rate``.
        sample_rate: The stems' rate.
        settings: The settings rendered (after ``intensity``): what a preset of this mix holds.
        target_lufs: The loudness the renderer mastered to.
        method: The method that decided the settings (``auto`` resolved).
        intensity: How far from neutral toward the method's settings the mix went, in [0, 1].
        song: The multitrack that was mixed.
        reference_lufs: The reference's loudness, if there was one.
        loudness_lufs: The mix's integrated loudness.
        peak_dbfs: The mix's sample peak.
        limiter_db: Gain reduction of the bus limiter at its deepest.
        seconds: Wall time of the whole call.
    """

    audio: np.ndarray
    sample_rate: int
    settings: MixSettings
    target_lufs: float
    method: str
    intensity: float
    song: Multitrack
    reference_lufs: float | None
    loudness_lufs: float
    peak_dbfs: float
    limiter_db: float
    seconds: float


def mix(
    stems: str | os.PathLike[str] | Multitrack,
    *,
    reference: str | os.PathLike[str] | np.ndarray | None = None,
    method: str = "auto",
    target_lufs: float | None = None,
    intensity: float = 1.0,
    roles: Mapping[str, str] | None = None,
    policy: LoadPolicy | None = None,
) -> MixResult:
    """Mix and master a folder of stems (or a loaded multitrack).

    Args:
        stems: A folder of stems (roles from the file names, see :func:`mixenv.data.load_folder`) or a multitrack.
        reference: A reference mix to mix toward: a file (any length; resampled to the stems' rate) or audio at
            the stems' rate. Default: the folder's own reference file, if it has one.
        method: One of :data:`METHODS`.
        target_lufs: The master's loudness. Default: the reference's, else -14 LUFS.
        intensity: 0 renders the neutral mix (plain sum, mastered), 1 the method's settings; between, each control
            moves that share of the way in normalised units.
        roles: File name -> role overrides for a folder.
        policy: How a folder's mismatched, silent, cut-short or multichannel files are handled.

    Raises:
        MixError: For an unknown method, an intensity outside [0, 1], a silent reference, or the ``reference``
            method without a reference.
        mixenv.data.StemsError, mixenv.data.AudioFileError: For stems or a reference that cannot be loaded.
    """
    start = time.perf_counter()
    if method not in METHODS:
        raise MixError(f"method must be one of {', '.join(METHODS)}, got {method!r}")
    if not 0.0 <= intensity <= 1.0:  # NaN fails too
        raise MixError(f"intensity must be in [0, 1], got {intensity}")
    song = stems if isinstance(stems, Multitrack) else load_folder(stems, roles=roles, policy=policy)
    ref = _reference(reference, song)
    if method == "auto":
        method = "reference" if ref is not None else "loudness"
    if method == "reference" and ref is None:
        raise MixError("method 'reference' needs a reference mix: pass --reference REF.wav (or reference=...)")
    reference_lufs = integrated_lufs(ref, song.sample_rate) if ref is not None else None
    if reference_lufs is not None and reference_lufs <= SILENCE_LUFS:
        raise MixError("the reference mix is silent; pass a reference that has audio in it")
    target = target_lufs if target_lufs is not None else reference_lufs if reference_lufs is not None else BUS_LUFS
    space = ParamSpace(ROLES)
    renderer = Renderer(song.sample_rate, ROLES, target_lufs=target)
    chosen = _decide(method, song, ref, space)
    settings = space.to_physical(space.neutral_vector() + intensity * (chosen.normalized() - space.neutral_vector()))
    result = renderer.render(song.stems, settings)
    return MixResult(
        audio=result.mix,
        sample_rate=song.sample_rate,
        settings=settings,
        target_lufs=target,
        method=method,
        intensity=intensity,
        song=song,
        reference_lufs=reference_lufs,
        loudness_lufs=float(integrated_lufs(result.mix, song.sample_rate)),
        peak_dbfs=float(peak_dbfs(result.mix)),
        limiter_db=float(result.limiter_reduction_db),
        seconds=time.perf_counter() - start,
    )


def _reference(reference: str | os.PathLike[str] | np.ndarray | None, song: Multitrack) -> np.ndarray | None:
    if reference is None:
        return song.reference
    if isinstance(reference, np.ndarray):
        audio = np.asarray(reference, dtype=np.float32)
        if audio.ndim != 2 or audio.shape[0] not in (1, 2) or not np.isfinite(audio).all():
            raise MixError(f"a reference array must be finite and shaped (1 or 2, samples), got {audio.shape}")
        return audio
    return read_audio(Path(reference), sample_rate=song.sample_rate, on_multichannel="downmix")


def _decide(method: str, song: Multitrack, reference: np.ndarray | None, space: ParamSpace) -> MixSettings:
    """The method's settings for the whole song (levels before the mastering's normalisation)."""
    if method == "loudness":
        return loudness_balance(space.neutral(), song.stems, song.sample_rate)
    assert reference is not None
    neutral = space.neutral()
    plain = Renderer(song.sample_rate, ROLES).render(song.stems, neutral).mix
    return match_tone(neutral, plain, reference, song.sample_rate)
