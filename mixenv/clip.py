"""Clips and how they are rendered: the one path the env, the evaluations, the heuristics and the benchmarks share.

Compressors, filters and the limiter carry state, so a clip cut out of a song sounds as it does inside the song
only if the audio before it went through them first. A :class:`Clip` is therefore cut with ``preroll`` samples in
front; :class:`ClipRenderer` renders the whole of it in one call into :class:`~mixenv.render.Renderer` and returns
the result with the pre-roll cut off. Where a clip may start in a song is :func:`clip_window`'s answer, for the
env (a random start) and the evaluations (evenly spaced starts) alike.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import NamedTuple

import numpy as np

from mixenv.data import Multitrack, SongFiles, SongRef
from mixenv.params import MixSettings
from mixenv.render import MixRender, Renderer


class ClipError(ValueError):
    """A clip that does not fit its song; the message names the song and the fix."""


@dataclass(frozen=True)
class Clip:
    """A clip of a song with its pre-roll in front.

    Attributes:
        song: The pre-roll and then the clip: stems, reference and the song's ground-truth settings.
        preroll: Samples of pre-roll at the start of ``song``.
        start_seconds: Where the clip (after the pre-roll) starts in the song.
    """

    song: Multitrack
    preroll: int
    start_seconds: float

    @property
    def excerpt(self) -> Multitrack:
        """The clip alone, without the pre-roll: what is heard, scored and compared with the reference."""
        return self.song.segment(self.preroll, self.song.num_samples - self.preroll)

    @property
    def sample_rate(self) -> int:
        """The clip's sample rate, in Hz."""
        return self.song.sample_rate


class ClipWindow(NamedTuple):
    """Where clips of one length may start in a song, in samples.

    Attributes:
        length: Samples of each clip.
        preroll: Samples of pre-roll before each clip (less than asked where the song is too short for both).
        first: The earliest start (the pre-roll must fit before it).
        last: The latest start (the clip must fit after it).
    """

    length: int
    preroll: int
    first: int
    last: int

    def evenly_spaced(self, count: int) -> list[int]:
        """``count`` starts spread evenly inside the window, ends excluded (the middle one for ``count=1``)."""
        return [int(s) for s in np.linspace(self.first, self.last, count + 2)[1:-1].round()]


def clip_window(
    song_samples: int, sample_rate: int, clip_seconds: float, preroll_seconds: float, song: str
) -> ClipWindow:
    """The :class:`ClipWindow` of clips of ``clip_seconds`` with ``preroll_seconds`` before them in a song.

    Args:
        song_samples: Length of the song.
        sample_rate: Its rate, in Hz.
        clip_seconds: Length of the clips.
        preroll_seconds: Audio wanted before each clip; shortened where the song has no room for it.
        song: How to name the song in an error (its name, and its path where known).

    Raises:
        ClipError: If the song is shorter than one clip.
    """
    length = round(clip_seconds * sample_rate)
    if song_samples < length:
        raise ClipError(
            f"song {song} lasts {song_samples / sample_rate:.2f} s, shorter than clip_seconds={clip_seconds}; "
            "use a shorter clip or remove the song"
        )
    preroll = min(round(preroll_seconds * sample_rate), song_samples - length)
    return ClipWindow(length, preroll, preroll, song_samples - length)


def cut_clip(song: Multitrack | SongFiles, start: int, window: ClipWindow) -> Clip:
    """The clip of ``song`` that starts at sample ``start``, with the window's pre-roll in front (views of a song in
    memory, no copy; read from a song on disk)."""
    return Clip(
        song.segment(start - window.preroll, window.preroll + window.length), window.preroll, start / song.sample_rate
    )


def song_clips(
    songs: Sequence[SongRef], clip_seconds: float = 4.0, preroll_seconds: float = 0.5, clips_per_song: int = 1
) -> list[Clip]:
    """Evenly spaced clips of every song (the middle one for ``clips_per_song=1``): fixed clips to evaluate on.

    Raises:
        ClipError: If a song is shorter than one clip.
    """
    clips = []
    for ref in songs:
        song = ref.load()
        window = clip_window(song.num_samples, song.sample_rate, clip_seconds, preroll_seconds, f"{song.name!r}")
        clips.extend(cut_clip(song, start, window) for start in window.evenly_spaced(clips_per_song))
    return clips


class ClipRenderer:
    """Renders clips under settings with one prebuilt :class:`~mixenv.render.Renderer` per sample rate.

    Args:
        roles: The stem roles it renders (a clip may have any subset of them).
        target_lufs: Master every render to this loudness (pre-roll included), as a finished mix would be;
            ``None`` (the env's way) leaves the level to the settings.
    """

    def __init__(self, roles: Sequence[str], target_lufs: float | None = None) -> None:
        self.roles = tuple(roles)
        self.target_lufs = target_lufs
        self._renderers: dict[int, Renderer] = {}

    def renderer(self, sample_rate: int) -> Renderer:
        """The renderer for ``sample_rate``, built on first use."""
        if sample_rate not in self._renderers:
            self._renderers[sample_rate] = Renderer(sample_rate, self.roles, target_lufs=self.target_lufs)
        return self._renderers[sample_rate]

    def render(self, clip: Clip, settings: MixSettings, *, stems: bool = False) -> MixRender:
        """The clip with its pre-roll rendered under ``settings``; ``mix`` (and ``stems``) without the pre-roll.

        The render's counts (bus overs, clipped samples, limiter reduction) include the pre-roll.
        """
        result = self.renderer(clip.sample_rate).render(clip.song.stems, settings, return_stems=stems)
        cut = clip.preroll
        return replace(result, mix=result.mix[:, cut:], stems={role: s[:, cut:] for role, s in result.stems.items()})

    def __getstate__(self) -> dict[str, object]:
        """Pickle without the renderers (pedalboard plugins do not pickle); they are rebuilt on demand."""
        return {"roles": self.roles, "target_lufs": self.target_lufs, "_renderers": {}}
