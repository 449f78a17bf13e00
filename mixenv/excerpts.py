"""A whole song judged by a few excerpts: what ``mixenv mix`` predicts from and searches on.

A model reads clips of a few seconds and a search needs many renders, so neither should touch a whole song.
:class:`SongExcerpts` cuts evenly spaced clips (with pre-roll, so compressors have settled, as in MixEnv) and
scores settings on all of them with MixEnv's own reward terms: the mean score over the excerpts, each rendered
(:class:`mixenv.clip.ClipRenderer`) and scored (:func:`mixenv.env.build_reward`) as an env step would, with one
difference: each excerpt is mastered to its loudness first, as the finished mix will be. Unmastered, the reward's
spectral term counts a level difference the mastering will remove, and a search then buys loudness with tone
(on the corpus's validation songs, refining the model's settings that way made 4 of 8 whole-song mixes worse
than the model's own).
"""

from __future__ import annotations

import os
from collections.abc import Mapping

import numpy as np

from mixenv.balance import match_stems, mid_band_alternatives
from mixenv.clip import Clip, ClipRenderer, clip_window, cut_clip
from mixenv.data import Multitrack, SongFiles
from mixenv.env import build_reward
from mixenv.loudness import SILENCE_LUFS, integrated_lufs
from mixenv.params import MixSettings, ParamSpace
from rewards.base import ScoreContext

EXCERPTS = 3
"""Excerpts per song: enough to hear a verse and a chorus, few enough that a search of 100 renders is quick."""
EXCERPT_SECONDS = 4.0
"""Length of each excerpt (a shorter song is one excerpt of its whole length): MixEnv's default clip."""
PREROLL_SECONDS = 0.5


class SongExcerpts:
    """Evenly spaced excerpts of a song, and the env's score of settings on them.

    Args:
        song: The song, in memory or on disk (only the excerpts are read); its reference, if any, must be a mix of
            these very stems (time-aligned): it is scored
            against as MixEnv does (spectral and loudness terms). Without one the score is MixEnv's reference-free
            one: loudness against ``target_lufs``, FAD and anomaly against good mixes.
        space: The settings space the scored vectors live in.
        target_lufs: The loudness a reference-free score aims at.
        backbone_path: Backbone of the FAD and anomaly terms (default: the one shipped with mixenv).
        good_mix_path: Their good-mix model (default: the default one, built on first use).
        weights: Reward term weights over MixEnv's defaults (``mixenv.env.DEFAULT_WEIGHTS``), as the env takes them.
        count: How many excerpts.
        seconds: Length of each.
    """

    def __init__(
        self,
        song: Multitrack | SongFiles,
        space: ParamSpace,
        target_lufs: float,
        *,
        backbone_path: str | os.PathLike[str] | None = None,
        good_mix_path: str | os.PathLike[str] | None = None,
        weights: Mapping[str, float] | None = None,
        count: int = EXCERPTS,
        seconds: float = EXCERPT_SECONDS,
    ) -> None:
        self.space = space
        rate = song.sample_rate
        seconds = min(seconds, song.num_samples / rate)
        window = clip_window(song.num_samples, rate, seconds, PREROLL_SECONDS, repr(song.name))
        starts = sorted(set(window.evenly_spaced(count)))  # one excerpt where the song is no longer than one
        self.clips: list[Clip] = [cut_clip(song, start, window) for start in starts]
        self.reference_free = self.clips[0].song.reference is None
        self._paths = (
            None if backbone_path is None else str(backbone_path),
            None if good_mix_path is None else str(good_mix_path),
        )
        self._target_lufs, self._weights = target_lufs, weights
        self._reward = None
        self._contexts: list[ScoreContext] = []
        # Each excerpt as it will sound: mastered to its reference excerpt's loudness, or to the target.
        self._renderers = [
            ClipRenderer(space.roles, target_lufs if c.excerpt.reference is None else _lufs(c.excerpt.reference, rate))
            for c in self.clips
        ]
        self.calls = 0

    @property
    def excerpts(self) -> list[Multitrack]:
        """The excerpts without their pre-roll, equal in length: what a model reads."""
        return [clip.excerpt for clip in self.clips]

    def match_stems(self, vector: np.ndarray, *, read_compressors: bool = True) -> np.ndarray:
        """Normalised settings ``vector`` with each stem's tone, fader and pan (and with ``read_compressors`` its
        compressor) matched to how it sounds in the reference excerpts (:func:`mixenv.balance.match_stems`, the
        excerpts heard one after another); without a reference, each fader set by the loudness-balance convention
        on the stem as its strip plays it (one render of each)."""
        settings = self.space.to_physical(vector)
        reference = None if self.reference_free else self._reference()
        rate = self.clips[0].sample_rate
        return match_stems(settings, self._placed, reference, rate, read_compressors=read_compressors).normalized()

    def mid_band_readings(self, vector: np.ndarray) -> list[dict[str, float]]:
        """Each stem's mid band read in the other regions of its range, as the reference excerpts show its tone
        (:func:`mixenv.balance.mid_band_alternatives` of normalised settings ``vector``; one render of each
        excerpt). Needs a reference."""
        if self.reference_free:
            raise ValueError("mid-band readings need a reference of these stems")
        rate = self.clips[0].sample_rate
        return mid_band_alternatives(self.space.to_physical(vector), self._placed, self._reference(), rate)

    def _placed(self, settings: MixSettings) -> dict[str, np.ndarray]:
        """Each stem as its strip plays it under ``settings``, the excerpts one after another."""
        renders = [
            renderer.render(clip, settings, stems=True)
            for clip, renderer in zip(self.clips, self._renderers, strict=True)
        ]
        return {role: np.concatenate([r.stems[role] for r in renders], axis=1) for role in renders[0].stems}

    def _reference(self) -> np.ndarray:
        """The reference excerpts one after another."""
        return np.concatenate([c.excerpt.reference for c in self.clips], axis=1)

    def loss(self, vector: np.ndarray) -> float:
        """Minus the mean score of normalised settings over the excerpts (sanitised as an env step would)."""
        if self._reward is None:  # built on first use: a plain prediction never needs the reward models
            self._reward, _ = build_reward(self._weights, self.reference_free, self._target_lufs, *self._paths, True)
            self._contexts = [ScoreContext(c.sample_rate, c.excerpt.reference, c.excerpt.stems) for c in self.clips]
        settings = self.space.from_clean(self.space.sanitize(np.asarray(vector))[0])
        scores = [
            self._reward.total(self._reward.scores(renderer.render(clip, settings).mix, context))
            for clip, context, renderer in zip(self.clips, self._contexts, self._renderers, strict=True)
        ]
        self.calls += 1
        return -float(np.mean(scores))


def _lufs(audio: np.ndarray, sample_rate: int) -> float:
    """A reference excerpt's loudness as a mastering target, within the renderer's -60 to 0 LUFS (a silent one is
    mastered to -14 LUFS instead)."""
    loudness = integrated_lufs(audio, sample_rate)
    return min(max(loudness, -60.0), 0.0) if loudness > SILENCE_LUFS else -14.0
