"""Every training song rendered under several mixes, kept as half-precision log-mels: what pretraining crops from."""

from __future__ import annotations

import concurrent.futures
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
from tqdm.auto import tqdm

from mixenv.data import SongRef
from mixenv.features import FeatureConfig, LogMel
from mixenv.params import MixSettings, ParamSpace
from mixenv.pretrain.config import PretrainConfig
from mixenv.render import Renderer


@dataclass(frozen=True)
class MixBank:
    """Log-mels of several rendered mixes per song, and the normalised settings that made them.

    Attributes:
        logmels: Per song, ``(mixes, 2, n_mels, frames)`` float16 (half the memory; crops are cast back).
        targets: Per song, ``(mixes, n_params)`` float32 normalised settings.
        sample_rate: Rate of every song.
    """

    logmels: list[torch.Tensor]
    targets: list[np.ndarray]
    sample_rate: int


def render_bank(
    songs: Sequence[SongRef], config: PretrainConfig, features: FeatureConfig, stream: int, progress: bool, desc: str
) -> MixBank | None:
    """Render ``mixes_per_song`` mixes of every song and keep their log-mels (``None`` for no songs).

    Song ``i`` draws its settings from ``default_rng([seed, stream, i])``, so the result does not depend on the
    order in which the threads finish.
    """
    if not songs:
        return None
    space = ParamSpace()

    def render(index: int) -> tuple[torch.Tensor, np.ndarray, int]:
        song = songs[index].load()
        settings = mix_settings(song.settings, space, config, np.random.default_rng([config.seed, stream, index]))
        renderer = Renderer(song.sample_rate)
        mixes = np.stack([renderer.render(song.stems, s).mix for s in settings])
        with torch.inference_mode():
            logmel = LogMel(song.sample_rate, features)(torch.from_numpy(mixes)).half()
        return logmel, np.stack([s.normalized() for s in settings]), song.sample_rate

    pool = concurrent.futures.ThreadPoolExecutor(config.render_workers)
    try:
        with tqdm(total=len(songs), desc=desc, unit="song", disable=not progress) as bar:
            results = []
            for result in pool.map(render, range(len(songs))):
                results.append(result)
                bar.update(1)
    finally:  # on an interrupt, drop the queued songs instead of rendering them all first
        pool.shutdown(wait=True, cancel_futures=True)
    rates = sorted({rate for _, _, rate in results})
    if len(rates) != 1:
        raise ValueError(f"pretraining songs must share one sample rate, got {rates} Hz; resample them when loading")
    return MixBank([r[0] for r in results], [r[1] for r in results], rates[0])


def mix_settings(
    center: MixSettings | None, space: ParamSpace, config: PretrainConfig, rng: np.random.Generator
) -> list[MixSettings]:
    """The ground truth (or neutral, for songs without one), perturbations of it, and uniformly random settings."""
    if center is not None and center.space != space:
        raise ValueError(f"song settings cover roles {center.space.roles}; pretraining expects {space.roles}")
    base = center.normalized() if center is not None else space.neutral_vector()
    perturbed = config.mixes_per_song - 1 - config.random_mixes
    sigmas = rng.uniform(*config.perturb_sigma, size=(perturbed, 1))
    vectors = [base, *(base + sigmas * rng.standard_normal((perturbed, space.size)))]
    vectors += list(rng.uniform(-1.0, 1.0, size=(config.random_mixes, space.size)))
    return [space.to_physical(np.clip(v, -1.0, 1.0)) for v in vectors]


def check_lengths(bank: MixBank, songs: Sequence[SongRef], crop_frames: int) -> None:
    for song, logmel in zip(songs, bank.logmels, strict=True):
        if logmel.shape[-1] < 2 * crop_frames:
            raise ValueError(
                f"song {song.name!r} has {logmel.shape[-1]} log-mel frames, fewer than two crops of {crop_frames}; "
                "use longer songs or a shorter crop_seconds"
            )
