"""The "good mix model": what the reference-free rewards compare a mix against.

It holds, for one backbone, the Gaussian of the frame embeddings of many good mixes (for :class:`FADReward`),
the anomaly detector fitted on their :func:`~rewards.anomaly.mix_features` (for :class:`AnomalyReward`), and
those features themselves, so other detectors can be fitted and compared without embedding everything again.
Good mixes are clips of the synthetic corpus's reference mixes (train split) and of the classics training set's
(real compositions played and mixed as the corpus is), of varied re-renders of each of those songs (its parts
re-recorded, fewer instruments, other sample rates, mixed with its own settings: a pool wider than one generator's
sound, so good mixes the model has not seen are not called anomalous) and, optionally, of real mixtures
(MUSDB18-HQ's train split). :func:`build_good_mix_model` fits one (:mod:`mixenv.artifacts` builds and finds the
default one); :func:`good_mix_terms` turns it into the env's FAD and anomaly terms.
"""

from __future__ import annotations

import concurrent.futures
import json
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from tqdm.auto import tqdm

from mixenv.backbone import AudioEmbedder, BackboneCheckpoint
from mixenv.data import Multitrack, SongRef
from mixenv.data.atomic import load_arrays, save_arrays
from mixenv.loudness import rms_dbfs
from mixenv.remix import RemixConfig, remix
from rewards.anomaly import DEFAULT_FEATURE_SET, AnomalyDetector, AnomalyReward, mix_features
from rewards.descriptors import StemSummary, describe
from rewards.fad import FADReward, GaussianStats

GOODMIX_FORMAT = "mixenv-good-mix-model"
GOODMIX_VERSION = 8
"""Bump when the recipe (clips, features, detector, pool) changes, so cached models of the old recipe are rebuilt.
6: the detector's descriptors are measured against the stems (:mod:`rewards.descriptors`). 7: the default pool
holds the classics training set's references too (:func:`mixenv.artifacts.good_mix_pool`). 8: the low-end shape
descriptor, and each source of the pool weighs the same in the detector (:func:`source_weights`)."""
DEFAULT_VARIATIONS = 2
"""Varied re-renders per training song in the default model's pool. Measured by ``experiments.eval_rewards``
(2026-12-03, descriptors against the stems): with none, the references of the out-of-domain evaluation sets scored
0.36 (chorales) and 0.86 (folk) on the anomaly scale against -0.05 in domain, 8% of them above 2; with two, -0.25
and 0.17 against -0.39, 0% and 1%; the mean AUC against the corruptions went 0.955 -> 0.973 in domain, 0.854 ->
0.860 and 0.906 -> 0.927 out of it. (With descriptors of the mix alone, two variations had brought the
out-of-domain references from 3.59 and 2.01 down to 0.91 and -0.01.)"""
CLIP_SECONDS = 4.0
CLIP_HOP_SECONDS = 3.0
MAX_CLIPS_PER_SONG = 8
"""Long songs (MUSDB's are minutes) give at most this many clips, spread evenly, so no song dominates."""
SILENT_CLIP_DBFS = -60.0
"""Clips quieter than this (intros, outros, gaps) are skipped: silence is not an example of a good mix."""
VARIATIONS = RemixConfig(wide=0.0, recolour=True, drop_role=0.3, sample_rates=(22_050, 44_100, 48_000))
"""How a song's extra good mixes vary it: other recordings of its parts, fewer instruments, other rates; its own
settings mix them (:mod:`mixenv.remix`)."""


@dataclass(frozen=True)
class GoodMixModel:
    """Statistics of good mixes under one backbone.

    Attributes:
        fad: Gaussian of the pooled frame embeddings (OAS covariance).
        detector: Anomaly detector fitted on ``features``.
        features: :func:`~rewards.anomaly.mix_features` of every good clip ``(clips, 3D + K)``, float32.
        sources: The collection each clip comes from ``(clips,)`` (:attr:`mixenv.data.SongRef.source`).
        clip_seconds: Length of the clips the statistics come from (score mixes of about this length).
        info: Provenance: songs per source, clip count, clip length and hop.
    """

    fad: GaussianStats
    detector: AnomalyDetector
    features: np.ndarray
    sources: np.ndarray
    clip_seconds: float
    info: dict[str, Any] = field(default_factory=dict)

    def weights(self) -> np.ndarray:
        """Each clip's weight in the detector: :func:`source_weights` of :attr:`sources`."""
        return source_weights(self.sources)

    def save(self, path: str | os.PathLike[str]) -> Path:
        """Write the model to one ``.npz`` file, atomically."""
        arrays = {
            "fad_mean": self.fad.mean,
            "fad_cov": self.fad.cov,
            "fad_n": np.array(self.fad.n),
            "features": self.features.astype(np.float32),
            "sources": self.sources.astype(str),
            "clip_seconds": np.array(self.clip_seconds),
            "info": np.array(json.dumps(self.info)),
            **{f"detector_{k}": v for k, v in self.detector.to_arrays().items()},
        }
        return save_arrays(path, GOODMIX_FORMAT, GOODMIX_VERSION, arrays)

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> GoodMixModel:
        """Read a model written by :meth:`save`.

        Raises:
            FileNotFoundError: If the file does not exist.
            ValueError: If it is not a good-mix model of this version.
        """
        arrays = load_arrays(
            path, GOODMIX_FORMAT, GOODMIX_VERSION, "delete it and build it again (`mixenv prepare` for the default one)"
        )
        prefix = "detector_"
        return cls(
            GaussianStats(arrays["fad_mean"], arrays["fad_cov"], int(arrays["fad_n"])),
            AnomalyDetector.from_arrays({k[len(prefix) :]: v for k, v in arrays.items() if k.startswith(prefix)}),
            arrays["features"],
            arrays["sources"],
            float(arrays["clip_seconds"]),
            json.loads(str(arrays["info"])),
        )


def build_good_mix_model(
    checkpoint: BackboneCheckpoint,
    songs: Sequence[SongRef],
    *,
    clip_seconds: float = CLIP_SECONDS,
    hop_seconds: float = CLIP_HOP_SECONDS,
    feature_set: str = DEFAULT_FEATURE_SET,
    variations: int = DEFAULT_VARIATIONS,
    seed: int = 0,
    workers: int = 2,
    progress: bool = True,
) -> GoodMixModel:
    """Embed clips of the reference mixes of ``songs`` and fit the FAD statistics and the anomaly detector.

    Songs may come from several collections and sample rates (each rate gets its own log-mel front end).

    Args:
        checkpoint: The backbone.
        songs: Songs with a reference mix: the good mixes.
        clip_seconds: Length of each good clip.
        hop_seconds: Hop between clips of one mix.
        feature_set: What the detector reads.
        variations: Per song with ground-truth settings, this many more good mixes to widen the pool beyond one
            generator's sound: its stems re-coloured, some roles (not the lead) left out, at another sample rate,
            mixed with its own settings (:data:`VARIATIONS`).
        seed: Seeds the variations and the detector's calibration folds.
        workers: Threads that make the songs' clips (rendering, the log-mel front end and the backbone release the
            GIL); the model is the same for any number.
        progress: Show a progress bar.

    Raises:
        ValueError: If a song has no reference mix, or the songs give too few clips to fit a detector.
    """
    embedder = AudioEmbedder(checkpoint, checkpoint.sample_rate)

    def examples(index: int) -> tuple[str, list[np.ndarray], list[np.ndarray]]:
        """The song's source, and the frame embeddings and features of each good clip of its versions."""
        ref = songs[index]
        song = ref.load()
        if song.reference is None:
            raise ValueError(f"song {song.name!r} ({ref.path}) has no reference mix; pass songs with a mix")
        versions = [song]
        if song.settings is not None:
            for k in range(variations):
                versions.append(remix(song, np.random.default_rng([seed, index, k]), VARIATIONS, song.settings.space))
        song_frames, song_features = [], []
        for version in versions:
            rate, length = version.sample_rate, round(clip_seconds * version.sample_rate)
            parts = [version.segment(start, length) for start in good_clip_starts(version, clip_seconds, hop_seconds)]
            if not parts:
                continue
            clips = [np.ascontiguousarray(part.reference) for part in parts]
            embeddings, clip_frames = embedder.at_rate(rate)(np.stack(clips))
            song_frames.extend(clip_frames)
            for embedding, clip_frame, clip, part in zip(embeddings, clip_frames, clips, parts, strict=True):
                descriptors = describe(clip, rate, StemSummary.of(part.stems, rate))
                song_features.append(mix_features(embedding, clip_frame, descriptors))
        return ref.source, song_frames, song_features

    frames, features, clip_sources = [], [], []
    sources: dict[str, int] = {}
    pool = concurrent.futures.ThreadPoolExecutor(max(1, workers))
    try:  # in song order whatever the threads: the same model for any number of workers
        with tqdm(total=len(songs), desc="good-mix model", unit="song", disable=not progress) as bar:
            for source, song_frames, song_features in pool.map(examples, range(len(songs))):
                frames += song_frames
                features += song_features
                clip_sources += [source] * len(song_features)
                sources[source] = sources.get(source, 0) + 1
                bar.update(1)
    finally:  # on an error or an interrupt, drop the queued songs instead of computing them all first
        pool.shutdown(wait=True, cancel_futures=True)
    if not features:
        raise ValueError(f"no clip of {clip_seconds} s above {SILENT_CLIP_DBFS} dBFS in {len(songs)} songs")
    features_array = np.stack(features)
    clip_sources_array = np.array(clip_sources)
    info = {
        "songs": sources,
        "variations": variations,
        "clips": len(features),
        "clip_seconds": clip_seconds,
        "hop_seconds": hop_seconds,
    }
    return GoodMixModel(
        GaussianStats.fit(np.concatenate(frames)),
        AnomalyDetector.fit(
            features_array, weights=source_weights(clip_sources_array), feature_set=feature_set, seed=seed
        ),
        features_array.astype(np.float32),
        clip_sources_array,
        clip_seconds,
        info,
    )


def source_weights(sources: np.ndarray) -> np.ndarray:
    """Per clip, one over its source's clip count: each collection of a pool weighs the same in total.

    The default pool holds twice as many corpus songs as classics ones; weighed by clip, the corpus's mixing would
    define what a typical good mix is. Chosen on the validation songs (2026-12-06): the out-of-domain references'
    anomaly above in-domain ones fell from 0.22 to 0.18, the corruption AUCs within 0.002.
    """
    _, index, counts = np.unique(sources, return_inverse=True, return_counts=True)
    return 1.0 / counts[index]


def good_clip_starts(song: Multitrack, clip_seconds: float, hop_seconds: float) -> list[int]:
    """Starts (samples) of the clips of ``clip_seconds`` every ``hop_seconds`` of the song's reference mix whose
    mix is not silent.

    At most :data:`MAX_CLIPS_PER_SONG`, spread evenly over the song; a song shorter than one clip gives none.

    Raises:
        ValueError: If the song has no reference mix.
    """
    if song.reference is None:
        raise ValueError(f"song {song.name!r} has no reference mix to take good clips from")
    rate = song.sample_rate
    length, hop = round(clip_seconds * rate), round(hop_seconds * rate)
    starts = np.arange(0, song.num_samples - length + 1, max(hop, 1))
    if starts.size > MAX_CLIPS_PER_SONG:
        starts = starts[np.linspace(0, starts.size - 1, MAX_CLIPS_PER_SONG).round().astype(int)]
    return [int(s) for s in starts if rms_dbfs(song.reference[:, s : s + length]) > SILENT_CLIP_DBFS]


def good_mix_terms(checkpoint: BackboneCheckpoint, model: GoodMixModel) -> tuple[FADReward, AnomalyReward]:
    """The FAD and anomaly reward terms of a backbone and its good-mix model.

    The terms share one embedder, so one backbone pass per mix serves both, at any sample rate.

    Raises:
        ValueError: If the model's statistics do not fit the backbone.
    """
    embedder = AudioEmbedder(checkpoint, checkpoint.sample_rate)
    return FADReward(embedder, model.fad), AnomalyReward(embedder, model.detector)
