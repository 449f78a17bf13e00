"""What MixEnv shows an agent: each processed stem, the mix and the reference, as log-mel images or embeddings.

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

OBSERVATIONS: tuple[str, ...] = ("logmel", "embedding")
EMBEDDING_BOUND = 100.0
"""Embedding observations are clipped to +-this, so the observation space has finite bounds."""


@dataclass(frozen=True)
class Observed:
    """The signals of one observation and what was computed for them.

    Attributes:
        stems: Per role, in the observer's role order, the stem's signal (zeros where absent), shaped for the space.
        mix: The mix's signal.
        shared: Memo key -> value for a :class:`~rewards.base.ScoreContext` scoring the same mix.
    """

    stems: np.ndarray
    mix: np.ndarray
    shared: Mapping[str, Any]


class Observer:
    """Builds MixEnv's observation space and observations.

    Args:
        roles: The stem slots, in observation order.
        kind: ``"logmel"`` (uint8 images) or ``"embedding"`` (the backbone's clip embeddings).
        features: The log-mel front end (the backbone's, when there is one).
        embedder: The backbone's embedder; required for ``"embedding"``, and whose memo key it fills when given.
    """

    def __init__(
        self, roles: Sequence[str], kind: str, features: FeatureConfig, embedder: AudioEmbedder | None = None
    ) -> None:
        if kind not in OBSERVATIONS:
            raise ValueError(f"observation must be one of {', '.join(map(repr, OBSERVATIONS))}, got {kind!r}")
        if kind == "embedding" and embedder is None:
            raise ValueError("embedding observations need the backbone's embedder")
        self.roles, self.kind, self.features, self.embedder = tuple(roles), kind, features, embedder
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

    def logmel(self, sample_rate: int) -> LogMel:
        """The log-mel front end at ``sample_rate``, built once."""
        if sample_rate not in self._logmels:
            self._logmels[sample_rate] = LogMel(sample_rate, self.features)
        return self._logmels[sample_rate]

    def features_of(self, sample_rate: int, audio: np.ndarray) -> np.ndarray:
        """Normalised log-mel of ``audio`` ``(channels, samples)``."""
        with torch.inference_mode():
            return self.logmel(sample_rate)(torch.from_numpy(np.ascontiguousarray(audio))).numpy()

    def reference(self, sample_rate: int, reference: np.ndarray) -> np.ndarray:
        """The reference's signal, shaped like the mix's."""
        logmel = self.features_of(sample_rate, reference)
        if self.kind == "logmel":
            return to_uint8(logmel)
        assert self.embedder is not None
        embedding, _ = self.embedder.at_rate(sample_rate).embed_features(torch.from_numpy(logmel)[None])
        return np.clip(embedding[0], -EMBEDDING_BOUND, EMBEDDING_BOUND)

    def observe(
        self, sample_rate: int, mix: np.ndarray, stems: Mapping[str, np.ndarray], shape: tuple[int, ...]
    ) -> Observed:
        """The signals of ``mix`` ``(2, samples)`` and of the processed ``stems`` (role -> ``(2, samples)``).

        Args:
            sample_rate: Rate of the audio.
            mix: The mix.
            stems: The processed stems of the roles present.
            shape: The shape of the ``stems`` space (so the stems come out as the space holds them).
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
        return Observed(observed.reshape(shape), mix_signal, shared)

    def __getstate__(self) -> dict[str, Any]:
        """Pickle without the front ends; they are rebuilt on demand."""
        return self.__dict__ | {"_logmels": {}}
