"""A one-class detector of bad mixes, trained on good mixes only, and the anomaly reward built on it.

Every mix becomes one feature vector (:func:`mix_features`): the backbone's clip embedding and the mean and
spread of its frame embeddings, then the descriptors of :mod:`rewards.descriptors`: cheap, gain-invariant
measurements of what the mixing did to the stems (each descriptor of the mix minus that of the stems' plain
sum, and the stems' balance in the mix), never compared with a reference. So a mix is judged against the stems it
was made from, as an engineer judges it, and music unlike the training songs does not look anomalous for being
different music.

A detector uses one :data:`FEATURE_SETS` subset of that vector. It is a Gaussian on standardised features with
a shrinkage (OAS) covariance, so a few hundred good mixes suffice; a mix's anomaly is its log squared Mahalanobis
distance, calibrated as a z-score against out-of-fold good mixes, so 0 is a typical good mix and a few units mean
"unlike the good mixes". Few, non-redundant descriptors matter: a Mahalanobis distance spreads its attention
over every dimension, so each redundant one dilutes the others. On the default corpus the descriptors beat the
backbone embedding at telling corrupted mixes from good ones (``python -m experiments.eval_rewards`` compares the
sets), so they are the default; the embedding sets stay for backbones that encode mix quality better.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from mixenv.backbone import AudioEmbedder
from mixenv.data.atomic import load_arrays, save_arrays
from mixenv.features import spectrogram_key
from rewards.base import ScoreContext
from rewards.descriptors import DESCRIPTOR_FEATURES, DESCRIPTORS, StemSummary, describe, mix_spectrogram
from rewards.fad import mix_embeddings, oas_shrink

DETECTOR_FORMAT = "mixenv-anomaly-detector"
DETECTOR_VERSION = 3
"""2: descriptors measured against the stems (:mod:`rewards.descriptors`). 3: the low-end shape descriptor."""
DEFAULT_FOLDS = 5
DEFAULT_FEATURE_SET = "descriptors"

_EPS = 1e-12

FEATURE_SETS: tuple[str, ...] = ("embedding", "descriptors", "embedding+descriptors")
"""Which part of :func:`mix_features` a detector looks at."""


def mix_features(embedding: np.ndarray, frames: np.ndarray, descriptors: np.ndarray) -> np.ndarray:
    """All detector inputs of one mix: clip embedding ``(D,)``, frame mean and std ``(2D,)``, its
    :func:`~rewards.descriptors.describe` ``(K,)``."""
    return np.concatenate([embedding, frames.mean(axis=0), frames.std(axis=0), descriptors])


def feature_columns(feature_set: str, num_features: int) -> np.ndarray:
    """Indices of ``feature_set`` in a :func:`mix_features` vector of length ``num_features``.

    Raises:
        ValueError: For an unknown set, or a length that is not ``3 * D + len(DESCRIPTORS)``.
    """
    if feature_set not in FEATURE_SETS:
        raise ValueError(f"unknown feature set {feature_set!r}; choose one of {', '.join(FEATURE_SETS)}")
    embedding_size = num_features - len(DESCRIPTORS)
    if embedding_size <= 0 or embedding_size % 3:
        raise ValueError(
            f"{num_features} features is not 3 * embedding_dim + {len(DESCRIPTORS)} descriptors; "
            "compute them with mix_features"
        )
    start = {"embedding": 0, "descriptors": embedding_size, "embedding+descriptors": 0}[feature_set]
    stop = embedding_size if feature_set == "embedding" else num_features
    return np.arange(start, stop)


@dataclass(frozen=True)
class AnomalyDetector:
    """Gaussian one-class detector on standardised features, calibrated on out-of-fold good mixes.

    Attributes:
        feature_set: Which :data:`FEATURE_SETS` subset of :func:`mix_features` it reads.
        num_features: Length of the full :func:`mix_features` vector it expects.
        centre: Means of the used features over the good mixes ``(F,)``.
        scale: Their standard deviations ``(F,)``, floored so that constant features do not divide by 0.
        precision: Inverse OAS covariance of the standardised features ``(F, F)``.
        offset: Mean out-of-fold log squared distance of the good mixes.
        spread: Its standard deviation.
    """

    feature_set: str
    num_features: int
    centre: np.ndarray
    scale: np.ndarray
    precision: np.ndarray
    offset: float
    spread: float

    @classmethod
    def fit(
        cls,
        good: np.ndarray,
        *,
        weights: np.ndarray | None = None,
        feature_set: str = DEFAULT_FEATURE_SET,
        folds: int = DEFAULT_FOLDS,
        seed: int = 0,
    ) -> AnomalyDetector:
        """Fit on :func:`mix_features` of good mixes ``(n, 3D + K)`` from any source (corpus, real mixtures).

        The calibration is honest: each good mix's distance comes from a Gaussian fitted without it (``folds``-fold
        cross-fitting, folds drawn from ``seed``); the returned Gaussian is then fitted on all of them.

        Args:
            good: The good mixes' features.
            weights: How much each mix counts ``(n,)``, in the Gaussian and in the calibration (so that each
                collection of a pool can weigh the same however many songs it has); equal when None.
            feature_set: What the detector reads.
            folds: Folds of the calibration's cross-fitting.
            seed: Draws the folds.

        Raises:
            ValueError: For fewer than ``2 * folds`` mixes, non-finite features, weights that are not positive and
                one per mix, or an unknown feature set.
        """
        x = np.asarray(good, dtype=np.float64)
        if x.ndim != 2 or x.shape[0] < 2 * folds:
            raise ValueError(
                f"the anomaly detector needs features shaped (n >= {2 * folds}, F) of good mixes, got {x.shape}; "
                "add more good mixes (more songs or more clips per song)"
            )
        if not np.isfinite(x).all():
            raise ValueError("good-mix features contain NaN or infinite values; check the mixes and the embedder")
        w = np.ones(x.shape[0]) if weights is None else np.asarray(weights, dtype=np.float64)
        if w.shape != (x.shape[0],) or not (np.isfinite(w).all() and (w > 0).all()):
            raise ValueError(f"weights must be positive and one per good mix ({x.shape[0]}), got shape {w.shape}")
        w = w / w.sum()
        used = x[:, feature_columns(feature_set, x.shape[1])]
        assignment = np.random.default_rng(seed).permutation(used.shape[0]) % folds
        held_out = np.empty(used.shape[0])
        for fold in range(folds):
            train = assignment != fold
            part = _Gaussian.fit(used[train], w[train])
            held_out[~train] = part.log_distance(used[~train])
        full = _Gaussian.fit(used, w)
        offset = float(w @ held_out)
        spread = max(float(np.sqrt(w @ (held_out - offset) ** 2)), 1e-6)
        return cls(feature_set, x.shape[1], full.centre, full.scale, full.precision, offset, spread)

    def score(self, features: np.ndarray) -> np.ndarray:
        """Calibrated anomaly of :func:`mix_features` ``(3D + K,)`` or ``(n, 3D + K)``: ~0 good, larger unusual.

        Raises:
            ValueError: If the features are not as long as those the detector was fitted on.
        """
        x = np.asarray(features, dtype=np.float64)
        if x.shape[-1] != self.num_features:
            raise ValueError(
                f"the detector was fitted on {self.num_features} features, got {x.shape[-1]}; "
                "compute them with mix_features and the backbone the detector was fitted with"
            )
        used = x[..., feature_columns(self.feature_set, self.num_features)]
        return (_Gaussian(self.centre, self.scale, self.precision).log_distance(used) - self.offset) / self.spread

    def to_arrays(self) -> dict[str, np.ndarray]:
        """The detector as named arrays (for ``np.savez``, alone or inside a larger file)."""
        return {
            "feature_set": np.array(self.feature_set),
            "num_features": np.array(self.num_features),
            "centre": self.centre,
            "scale": self.scale,
            "precision": self.precision,
            "calibration": np.array([self.offset, self.spread]),
        }

    @classmethod
    def from_arrays(cls, arrays: Mapping[str, np.ndarray]) -> AnomalyDetector:
        """Inverse of :meth:`to_arrays`."""
        offset, spread = (float(v) for v in arrays["calibration"])
        return cls(
            str(arrays["feature_set"]),
            int(arrays["num_features"]),
            arrays["centre"],
            arrays["scale"],
            arrays["precision"],
            offset,
            spread,
        )

    def save(self, path: str | os.PathLike[str]) -> Path:
        """Write the detector to an ``.npz`` file, atomically."""
        return save_arrays(path, DETECTOR_FORMAT, DETECTOR_VERSION, self.to_arrays())

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> AnomalyDetector:
        """Read a detector written by :meth:`save`.

        Raises:
            FileNotFoundError: If the file does not exist.
            ValueError: If it is not a detector file of this version.
        """
        arrays = load_arrays(path, DETECTOR_FORMAT, DETECTOR_VERSION, "fit a detector and save it (AnomalyDetector)")
        return cls.from_arrays(arrays)


class AnomalyReward:
    """Reward: minus the calibrated anomaly of a mix (about 0 for a typical good mix, negative for unusual ones).

    Reference-free, but it judges a mix against the stems it was made from, so the score context must hold them
    (the env's does); the stems' summary is computed once per context. Shares the backbone pass with
    :class:`rewards.fad.FADReward` through the score context.

    Args:
        embedder: The backbone the detector's features were computed with (other rates get their own front end).
        detector: A detector fitted on :func:`mix_features` of good mixes.
    """

    name = "anomaly"
    needs_reference = False

    def __init__(self, embedder: AudioEmbedder, detector: AnomalyDetector) -> None:
        expected = 3 * embedder.embedding_dim + len(DESCRIPTORS)
        if detector.num_features != expected:
            raise ValueError(
                f"the detector takes {detector.num_features} features but this backbone gives {expected}; "
                "fit the detector with this backbone"
            )
        self.embedder = embedder
        self.detector = detector

    def score(self, mix: np.ndarray, context: ScoreContext) -> float:
        """``-anomaly`` of ``mix`` ``(channels, samples)``, always finite.

        Raises:
            ValueError: If the context holds no stems.
        """
        rate = context.sample_rate
        stems = context.stems_value("stem_summary", lambda s: StemSummary.of(s, rate))
        embedding, frames = mix_embeddings(self.embedder.at_rate(rate), mix, context)
        key = spectrogram_key(rate, DESCRIPTOR_FEATURES)  # the env may have left the mix's spectrogram there
        spectra = context.mix_value(mix, key, lambda m: mix_spectrogram(m, rate))
        features = mix_features(embedding, frames, describe(mix, rate, stems, spectra))
        return -float(self.detector.score(features))


@dataclass(frozen=True)
class _Gaussian:
    centre: np.ndarray
    scale: np.ndarray
    precision: np.ndarray

    @classmethod
    def fit(cls, x: np.ndarray, weights: np.ndarray) -> _Gaussian:
        """The weighted Gaussian of ``x`` ``(n, F)``; the shrinkage counts the weights' effective sample size."""
        w = weights / weights.sum()
        centre = w @ x
        scale = np.maximum(np.sqrt(w @ (x - centre) ** 2), 1e-6 * (np.abs(centre).max() + 1.0))
        z = (x - centre) / scale
        covariance = oas_shrink((z * w[:, None]).T @ z, 1.0 / float(w @ w))
        return cls(centre, scale, np.linalg.pinv(covariance, hermitian=True))

    def log_distance(self, x: np.ndarray) -> np.ndarray:
        z = (x - self.centre) / self.scale
        return np.log(np.einsum("...i,ij,...j->...", z, self.precision, z) + _EPS)
