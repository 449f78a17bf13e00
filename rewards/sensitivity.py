"""How much each control moves the mix: the weights of the audible parameter error.

Parameter MAE treats every control alike, but some barely change the sound (a peaking EQ's centre when its gain is
near 0 dB, a compressor's ratio when its threshold sits above the signal). A control's *typical move* is its
spread in a corpus (the mean absolute distance of its ground truth from its mean over the training songs: what
predict-the-mean gets wrong on it); its *sensitivity* is the multi-resolution STFT distance that moving it alone by
its typical move, up and down from the ground truth, makes to the ground-truth render, averaged over songs. The
audible parameter error (:func:`rewards.metrics.audible_parameter_error`) weighs each control's error by it.
:func:`corpus_sensitivity` measures it on a corpus with ground truth; :func:`mixenv.artifacts.sensitivity` keeps it
beside the corpus, measured once.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
from tqdm.auto import tqdm

from mixenv.clip import Clip, ClipRenderer, song_clips
from mixenv.data.atomic import write_json
from mixenv.data.corpus import corpus_songs
from mixenv.data.folder import SETTINGS_FILE
from mixenv.params import ParamSpace
from mixenv.presets import load_preset
from rewards.spectral import SpectralDistance

YARDSTICK_DB = 0.25
"""Level change of the whole mix whose distance marks a control as audible: a quarter of a decibel, below the
~0.5-1 dB a listener notices on a whole mix, so a control flagged inaudible is inaudible by a generous measure."""
SONGS = 24
"""Test songs a corpus's sensitivity is measured on (the middle clip of each)."""
CLIP_SECONDS, PREROLL_SECONDS = 4.0, 0.5
"""The clip measured (shorter where a song is) and the audio rendered before it so compressors have settled."""


@dataclass(frozen=True)
class Sensitivity:
    """Per control (flat name): its typical move and the distance that move makes; the yardstick's distance."""

    typical_move: dict[str, float]
    sensitivity: dict[str, float]
    yardstick: float

    def audible(self) -> list[str]:
        """The controls whose typical move changes the mix more than a :data:`YARDSTICK_DB` level change."""
        return [name for name, value in self.sensitivity.items() if value >= self.yardstick]

    def save(self, path: str | os.PathLike[str]) -> None:
        """Write as JSON (atomically)."""
        write_json(path, asdict(self))

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> Sensitivity:
        """Read what :meth:`save` wrote."""
        return cls(**json.loads(Path(path).read_text(encoding="utf-8")))


def ground_truths(corpus: str | os.PathLike[str], split: str, space: ParamSpace) -> list[tuple[np.ndarray, np.ndarray]]:
    """``(normalised settings, mask of the controls in effect)`` of each song of ``split`` (read from its files)."""
    truths = []
    for song in corpus_songs(corpus, split):
        folder = Path(song.path)
        settings = load_preset(folder / SETTINGS_FILE, space).settings.normalized()
        roles = [role for role in space.roles if (folder / f"{role}.wav").is_file()]
        truths.append((settings, space.controls_of(roles)))
    return truths


def typical_moves(
    train: Sequence[tuple[np.ndarray, np.ndarray]], test: Sequence[tuple[np.ndarray, np.ndarray]], space: ParamSpace
) -> dict[str, float]:
    """Each control's mean absolute distance on ``test`` from its mean over ``train`` (songs where it is in effect;
    the neutral value where no training song has it)."""
    values, masks = (np.array([t[k] for t in train], dtype=np.float64) for k in (0, 1))
    counts = masks.sum(axis=0)
    mean = np.where(counts > 0, (values * masks).sum(axis=0) / np.maximum(counts, 1), space.neutral_vector())
    moves = {}
    for index, name in enumerate(space.names):
        distances = [abs(settings[index] - mean[index]) for settings, mask in test if mask[index]]
        if distances:
            moves[name] = float(np.mean(distances))
    return moves


def measure_sensitivity(
    clips: Sequence[Clip], moves: Mapping[str, float], space: ParamSpace, *, progress: bool = True
) -> tuple[dict[str, float], float]:
    """Mean distance to the ground-truth render when each control alone moves by ``moves[name]``, and the yardstick.

    Returns:
        ``(sensitivity per control, distance of a YARDSTICK_DB level change)``, means over clips (and directions).
    """
    renderer, metric = ClipRenderer(space.roles), SpectralDistance()

    def render(clip: Clip, normalized: np.ndarray) -> np.ndarray:
        return renderer.render(clip, space.to_physical(normalized)).mix

    moved: dict[str, list[float]] = {name: [] for name in moves}
    yardstick = []
    for clip in tqdm(clips, desc="sensitivity", unit="song", disable=not progress):
        if clip.song.settings is None:
            raise ValueError(f"song {clip.song.name!r} has no ground-truth settings; sensitivity needs them")
        truth = clip.song.settings.normalized()
        reference = render(clip, truth)
        base = metric.magnitudes(reference)
        louder = metric.magnitudes(reference * 10 ** (YARDSTICK_DB / 20))
        yardstick.append(metric.distance_from_magnitudes(louder, base))
        present = space.controls_of(clip.song.roles)
        for name in (name for name, keep in zip(space.names, present, strict=True) if keep and name in moves):
            index = space.index(name)
            for sign in (-1.0, 1.0):
                settings = truth.copy()
                settings[index] = np.clip(truth[index] + sign * moves[name], -1.0, 1.0)
                audio = render(clip, settings)
                moved[name].append(metric.distance_from_magnitudes(metric.magnitudes(audio), base))
    return {name: float(np.mean(values)) for name, values in moved.items() if values}, float(np.mean(yardstick))


def corpus_sensitivity(corpus: str | os.PathLike[str], songs: int = SONGS, *, progress: bool = True) -> Sensitivity:
    """Every control's :class:`Sensitivity` on a corpus with ground truth: typical moves from its train and test
    splits (a corpus of test songs only, as the out-of-domain sets are, takes its spread around its own mean),
    distances on the middle :data:`CLIP_SECONDS` of the first ``songs`` test songs."""
    space = ParamSpace()
    test = ground_truths(corpus, "test", space)
    moves = typical_moves(ground_truths(corpus, "train", space) or test, test, space)
    chosen = corpus_songs(corpus, "test")[:songs]
    shortest = min(song.info().num_samples / song.info().sample_rate for song in chosen)
    clips = song_clips(chosen, min(CLIP_SECONDS, shortest - PREROLL_SECONDS), PREROLL_SECONDS)
    sensitivity, yardstick = measure_sensitivity(clips, moves, space, progress=progress)
    return Sensitivity({n: moves[n] for n in sensitivity}, sensitivity, yardstick)
