"""What MixEnv shows an agent: each processed stem, the mix and the reference, as log-mel images or embeddings, and
optionally how loud each processed stem sits in the reference (:mod:`mixenv.match`).

An :class:`Observer` turns a rendered clip into the observation's signals and hands back, under the memo keys the
reward terms look for, what it computed on the way (the mix's spectrogram, its log-mel, its backbone embeddings),
so scoring the same mix computes none of them again.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from gymnasium import spaces

from mixenv.backbone import AudioEmbedder
from mixenv.features import FeatureConfig, LogMel, features_key, spectrogram_key, to_uint8
from mixenv.match import ReferenceMatch

OBSERVATIONS: tuple[str, ...] = ("logmel", "embedding")
EMBEDDING_BOUND = 100.0
"""Embedding observations are clipped to +-this, so the observation space has finite bounds."""
MATCH_BOUND = 10.0
"""Match features (dB / 20) are clipped to +-this, which none reaches (fitted gains lie within +-1.5, levels above
-6): it gives the space finite bounds."""


@dataclass(frozen=True)
class Observed:
    """The signals of one observation and what was computed for them.

    Attributes:
        stems: Per role, in the observer's role order, the stem's signal (zeros where absent), shaped for the space.
        mix: The mix's signal.
        shared: Memo key -> value for a :class:`~rewards.base.ScoreContext` scoring the same mix.
        match: The stems' reference-matching features (flat, zeros where absent), when the observer matches and was
            given the reference.
    """

    stems: np.ndarray
    mix: np.ndarray
    shared: Mapping[str, Any]
    match: np.ndarray | None = None


@dataclass(frozen=True)
class SeenReference:
    """The reference as an observation shows it (``signal``, shaped like the mix's) and its normalised log-mel
    ``(2, mels, frames)``, what reference matching reads."""

    signal: np.ndarray
    logmel: np.ndarray


class Observer:
    """Builds MixEnv's observation space and observations.

    Args:
        roles: The stem slots, in observation order.
        kind: ``"logmel"`` (uint8 images) or ``"embedding"`` (the backbone's clip embeddings).
        features: The log-mel front end (the backbone's, when there is one).
        embedder: The backbone's embedder; required for ``"embedding"``, and whose memo key it fills when given.
        match: Also observe each processed stem's :class:`~mixenv.match.ReferenceMatch` features against the
            reference (its fitted gain per band group, channel and loud/quiet frames, and its own level).
    """

    def __init__(
        self,
        roles: Sequence[str],
        kind: str,
        features: FeatureConfig,
        embedder: AudioEmbedder | None = None,
        match: bool = False,
    ) -> None:
        if kind not in OBSERVATIONS:
            raise ValueError(f"observation must be one of {', '.join(map(repr, OBSERVATIONS))}, got {kind!r}")
        if kind == "embedding" and embedder is None:
            raise ValueError("embedding observations need the backbone's embedder")
        self.roles, self.kind, self.features, self.embedder = tuple(roles), kind, features, embedder
        self.matcher = ReferenceMatch(features.n_mels, floor_db=features.floor_db) if match else None
        self._logmels: dict[int, LogMel] = {}

    def signal_spaces(self, clip_samples: int, sample_rate: int) -> dict[str, spaces.Box]:
        """The ``stems`` and ``mix`` spaces for clips of ``clip_samples`` at ``sample_rate`` (``mix`` also fits the
        reference)."""
        if self.kind == "embedding":
            assert self.embedder is not None
            d = self.embedder.embedding_dim
            return {
                "stems": spaces.Box(-EMBEDDING_BOUND, EMBEDDING_BOUND, (len(self.roles) * d,), np.float32),
                "mix": spaces.Box(-EMBEDDING_BOUND, EMBEDDING_BOUND, (d,), np.float32),
            }
        frames, n_mels = self.features.num_frames(clip_samples, sample_rate), self.features.n_mels
        return {
            "stems": spaces.Box(0, 255, (len(self.roles), n_mels, frames), np.uint8),
            "mix": spaces.Box(0, 255, (2, n_mels, frames), np.uint8),
        }

    def match_space(self) -> spaces.Box:
        """The ``match`` space: each role's reference-matching features, role after role (zeros if absent)."""
        assert self.matcher is not None
        size = len(self.roles) * self.matcher.features_per_stem
        return spaces.Box(-MATCH_BOUND, MATCH_BOUND, (size,), np.float32)

    def logmel(self, sample_rate: int) -> LogMel:
        """The log-mel front end at ``sample_rate``, built once."""
        if sample_rate not in self._logmels:
            self._logmels[sample_rate] = LogMel(sample_rate, self.features)
        return self._logmels[sample_rate]

    def features_of(self, sample_rate: int, audio: np.ndarray) -> np.ndarray:
        """Normalised log-mel of ``audio`` ``(channels, samples)``."""
        with torch.inference_mode():
            return self.logmel(sample_rate)(torch.from_numpy(np.ascontiguousarray(audio))).numpy()

    def reference(self, sample_rate: int, reference: np.ndarray) -> SeenReference:
        """The reference's signal, shaped like the mix's, and its log-mel."""
        logmel = self.features_of(sample_rate, reference)
        if self.kind == "logmel":
            return SeenReference(to_uint8(logmel), logmel)
        assert self.embedder is not None
        embedding, _ = self.embedder.at_rate(sample_rate).embed_features(torch.from_numpy(logmel)[None])
        return SeenReference(np.clip(embedding[0], -EMBEDDING_BOUND, EMBEDDING_BOUND), logmel)

    def observe(
        self,
        sample_rate: int,
        mix: np.ndarray,
        stems: Mapping[str, np.ndarray],
        shape: tuple[int, ...],
        reference: SeenReference | None = None,
    ) -> Observed:
        """The signals of ``mix`` ``(2, samples)`` and of the processed ``stems`` (role -> ``(2, samples)``).

        Args:
            sample_rate: Rate of the audio.
            mix: The mix.
            stems: The processed stems of the roles present.
            shape: The shape of the ``stems`` space (so the stems come out as the space holds them).
            reference: The episode's reference, for the match features (an observer that matches and has none
                observes no ``match``).
        """
        present = [role for role in self.roles if role in stems]
        mids = np.empty((len(present), mix.shape[1]), np.float32)
        for row, role in zip(mids, present, strict=True):  # the mean of the stem's two channels, without copies
            np.add(stems[role][0], stems[role][1], out=row)
            row *= 0.5
        front = self.logmel(sample_rate)
        with torch.inference_mode():
            spectra = front.spectrogram(torch.from_numpy(np.ascontiguousarray(mix)))
            stem_logmels = [front(torch.from_numpy(mids))] if present else []
            logmels = torch.cat([*stem_logmels, front.from_spectrogram(spectra)]).numpy()
        mix_logmel = torch.from_numpy(logmels[len(present) :])[None]
        shared: dict[str, Any] = {
            features_key(sample_rate, self.features): mix_logmel,
            spectrogram_key(sample_rate, self.features): spectra.numpy(),
        }
        if self.kind == "embedding":
            assert self.embedder is not None
            embedder = self.embedder.at_rate(sample_rate)
            batch = torch.from_numpy(np.concatenate([np.repeat(logmels[: len(present), None], 2, axis=1), mix_logmel]))
            embeddings, frames = embedder.embed_features(batch)
            shared[embedder.embedding_key] = (embeddings[-1], frames[-1])
            signals = np.clip(embeddings, -EMBEDDING_BOUND, EMBEDDING_BOUND)
        else:
            signals = to_uint8(logmels)
        observed = np.zeros((len(self.roles), *signals.shape[1:]), signals.dtype)
        observed[[self.roles.index(role) for role in present]] = signals[: len(present)]
        mix_signal = signals[-1] if self.kind == "embedding" else signals[len(present) :]
        match = None
        if self.matcher is not None and reference is not None:
            match = self._match(logmels[: len(present)], present, reference.logmel)
        return Observed(observed.reshape(shape), mix_signal, shared, match)

    def _match(self, logmels: np.ndarray, present: Sequence[str], reference: np.ndarray) -> np.ndarray:
        """The match features of the present stems' log-mels ``(len(present), mels, frames)`` in ``reference``."""
        assert self.matcher is not None
        stems = torch.zeros((1, len(self.roles), *reference.shape[1:]))
        presence = torch.zeros((1, len(self.roles)))
        rows = [self.roles.index(role) for role in present]
        stems[0, rows] = torch.from_numpy(logmels)
        presence[0, rows] = 1.0
        features = self.matcher(stems, presence, torch.from_numpy(reference)[None])
        return np.clip(features.flatten().numpy(), -MATCH_BOUND, MATCH_BOUND).astype(np.float32)

    def __getstate__(self) -> dict[str, Any]:
        """Pickle without the front ends; they are rebuilt on demand."""
        return self.__dict__ | {"_logmels": {}}
