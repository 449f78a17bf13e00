"""What sets a clip's controls in an evaluation: a trained model, and the baselines a model must beat.

:class:`ModelPredictor` (a trained model; :class:`LoudnessMatched` masters its settings to the reference's
loudness), :func:`mean_predictor` (the mean ground truth of the training songs, the same for every song;
:func:`songs_mean` gives those settings from the songs alone, for the benchmark's predict-the-mean),
:func:`neutral_predictor` (unity settings: the plain sum of the stems) and :class:`GroundTruthPredictor` (each
song's own truth: the floor of every metric).
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np
import torch

from mixenv.checkpoint import Trained
from mixenv.data import Multitrack, SongRef
from mixenv.features import FeatureConfig
from mixenv.loudness import integrated_lufs
from mixenv.mastering import drive_to_loudness
from mixenv.params import MixSettings, ParamSpace
from mixenv.render import Renderer
from supervised.checkpoint import LoadedModel, load_model
from supervised.data import FeatureBank, target_mask
from supervised.inputs import InputError, ModelInputs, batch_inputs, clip_logmels

PREDICT_BATCH = 16
"""Clips per forward pass when predicting."""


class Predictor(Protocol):
    """Anything that sets a clip's controls: a trained model or a baseline."""

    name: str
    space: ParamSpace

    def predict(self, clips: Sequence[Multitrack]) -> np.ndarray:
        """Normalised settings ``(clips, params)`` for clips of equal length."""
        ...


class ModelPredictor:
    """A trained model as a :class:`Predictor`.

    Args:
        model: A loaded model, or its checkpoint file or run folder.
        use_reference: Give the model the reference (when clips have one); ``False`` mixes reference-free.
        name: Name in tables (default: the model's preset name).
    """

    def __init__(
        self, model: LoadedModel | str | os.PathLike[str], *, use_reference: bool = True, name: str | None = None
    ) -> None:
        self.loaded = model if isinstance(model, Trained) else load_model(model)
        self.model = self.loaded.module.eval()
        self.space = self.model.space
        self.use_reference = use_reference
        self.reads_reference: bool | None = None
        """Whether the model always (True) or never (False) reads a reference; None: either, as asked (a torch
        model mixes with and without one; an exported graph is fixed, see ``OnnxPredictor``)."""
        self.name = name or self.model.config.name + ("" if use_reference else " (no reference)")

    def predict(self, clips: Sequence[Multitrack]) -> np.ndarray:
        batches = model_batches(clips, self.space.roles, self.loaded.features, self.use_reference)
        return np.concatenate([self.predict_inputs(inputs) for inputs in batches])

    def predict_inputs(self, inputs: ModelInputs) -> np.ndarray:
        """Settings ``(batch, params)`` float32 for ready-made inputs."""
        with torch.inference_mode():
            return self.model(*inputs).numpy()


def model_batches(
    clips: Sequence[Multitrack], roles: Sequence[str], features: FeatureConfig, use_reference: bool = True
) -> Iterator[ModelInputs]:
    """The inputs of clips of equal length, :data:`PREDICT_BATCH` at a time: what every runtime of a model reads."""
    logmels = [clip_logmels(clip, roles, features) for clip in clips]
    for k in range(0, len(logmels), PREDICT_BATCH):
        yield batch_inputs(logmels[k : k + PREDICT_BATCH], use_reference)


class LoudnessMatched:
    """Another predictor's settings, then mastered to the reference's loudness (``target_lufs`` without one).

    Loudness is a number the reference states outright, so it is matched rather than guessed: the limiter drives up
    to 12 dB and the faders do the rest (:func:`mixenv.mastering.drive_to_loudness`), at the cost of two more
    renders of the clip.

    Args:
        predictor: Predicts the settings.
        target_lufs: The loudness of a clip without a reference (or of a reference-free predictor's).
    """

    def __init__(self, predictor: Predictor, target_lufs: float = -14.0) -> None:
        self.predictor, self.space, self.target_lufs = predictor, predictor.space, target_lufs
        self.name = f"{predictor.name}, loudness matched"

    def predict(self, clips: Sequence[Multitrack]) -> np.ndarray:
        vectors = []
        for clip, vector in zip(clips, self.predictor.predict(clips), strict=True):
            renderer = Renderer(clip.sample_rate, self.space.roles)
            reads_reference = clip.reference is not None and getattr(self.predictor, "use_reference", True)
            target = integrated_lufs(clip.reference, clip.sample_rate) if reads_reference else self.target_lufs

            def render(settings: MixSettings, clip: Multitrack = clip, renderer: Renderer = renderer) -> np.ndarray:
                return renderer.render(clip.stems, settings).mix

            matched = drive_to_loudness(render, self.space.to_physical(vector), clip.roles, clip.sample_rate, target)
            vectors.append(matched.normalized())
        return np.stack(vectors)


@dataclass(frozen=True)
class ConstantPredictor:
    """The same settings for every clip."""

    name: str
    space: ParamSpace
    vector: np.ndarray

    def predict(self, clips: Sequence[Multitrack]) -> np.ndarray:
        return np.tile(self.vector.astype(np.float32), (len(clips), 1))


class GroundTruthPredictor:
    """Each song's own ground truth: what a perfect model would say (the floor of every metric)."""

    name = "ground truth"

    def __init__(self, space: ParamSpace) -> None:
        self.space = space

    def predict(self, clips: Sequence[Multitrack]) -> np.ndarray:
        vectors = []
        for clip in clips:
            if clip.settings is None:
                raise InputError(f"song {clip.name!r} has no ground-truth settings; evaluate on the synthetic corpus")
            vectors.append(clip.settings.normalized())
        return np.stack(vectors)


def mean_settings(targets: np.ndarray, masks: np.ndarray, space: ParamSpace) -> np.ndarray:
    """Predict-the-mean's settings ``(params,)`` float32: each control's mean over the examples that have its role
    (neutral where none has), from normalised ``targets`` and their :func:`~supervised.data.target_mask` ``masks``,
    both ``(examples, params)``."""
    counts = masks.sum(axis=0)
    mean = (targets * masks).sum(axis=0) / np.maximum(counts, 1.0)
    return np.where(counts > 0, mean, space.neutral_vector()).astype(np.float32)


def mean_predictor(bank: FeatureBank, space: ParamSpace) -> ConstantPredictor:
    """Predict-the-mean: each control's mean over the training songs that have its role (neutral if none has)."""
    return ConstantPredictor("predict the mean", space, mean_settings(bank.targets.numpy(), bank.masks.numpy(), space))


def songs_mean(songs: Sequence[SongRef], space: ParamSpace) -> np.ndarray:
    """Predict-the-mean's settings from songs with a ground truth (a corpus's train split), as :func:`mean_predictor`
    has them from those songs' training data, without computing their log-mels (each song's audio is read only to
    see which stems it has).

    Raises:
        InputError: For no songs, or a song without ground-truth settings or with settings over other roles.
    """
    if not songs:
        raise InputError("no songs to take the mean settings of; give a corpus with a train split")
    targets, masks = [], []
    for ref in songs:
        song = ref.load()
        if song.settings is None:
            raise InputError(f"song {song.name!r} ({ref.path}) has no ground-truth settings to take the mean of")
        if song.settings.space != space:
            raise InputError(
                f"song {song.name!r} has settings for roles {song.settings.space.roles}, expected {space.roles}"
            )
        targets.append(song.settings.normalized())
        masks.append(target_mask(space, np.array([role in song.stems for role in space.roles], np.float32)))
    return mean_settings(np.stack(targets), np.stack(masks), space)


def neutral_predictor(space: ParamSpace) -> ConstantPredictor:
    """Unity gain, centre, flat EQ, no compression: the raw sum of the stems."""
    return ConstantPredictor("neutral", space, space.neutral_vector())
