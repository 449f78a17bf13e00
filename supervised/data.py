"""Training data: every song's log-mels computed once, in memory; batches are random crops of them.

A :class:`FeatureBank` holds, per song, the uint8 log-mel images of :func:`supervised.inputs.clip_logmels` over
the whole song, its presence mask, its ground-truth settings in normalised form (the targets) and a mask that
leaves out the controls of absent roles (they have no effect, so nothing can be learnt about them). Computing
the default corpus's 240 songs takes about 10 s and 40 MB, so there is no disk cache to go stale.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
from tqdm.auto import tqdm

from mixenv.data import SongRef
from mixenv.features import FeatureConfig, from_uint8
from mixenv.params import STEM_CONTROLS, ParamSpace
from supervised.inputs import InputError, ModelInputs, clip_logmels


@dataclass(frozen=True)
class FeatureBank:
    """Whole-song inputs and targets of a set of songs.

    Attributes:
        names: Song names.
        stems: Per song, ``(roles, mels, frames)`` uint8.
        references: Per song, ``(2, mels, frames)`` uint8.
        presence: ``(songs, roles)`` float32.
        targets: ``(songs, params)`` float32 normalised ground-truth settings.
        masks: ``(songs, params)`` float32, 0 for the controls of absent roles.
        sample_rate: Rate of every song.
    """

    names: tuple[str, ...]
    stems: tuple[torch.Tensor, ...]
    references: tuple[torch.Tensor, ...]
    presence: torch.Tensor
    targets: torch.Tensor
    masks: torch.Tensor
    sample_rate: int

    def __len__(self) -> int:
        return len(self.names)

    @property
    def min_frames(self) -> int:
        """Frames of the shortest song."""
        return min(s.shape[-1] for s in self.stems)


@dataclass(frozen=True)
class Batch:
    """Model inputs with their targets and target masks ``(batch, params)``."""

    inputs: ModelInputs
    targets: torch.Tensor
    masks: torch.Tensor


def target_mask(space: ParamSpace, presence: np.ndarray) -> np.ndarray:
    """``(params,)`` float32: 1 for the master controls and the controls of present roles, 0 for absent roles."""
    strip = np.repeat(np.asarray(presence, np.float32), len(STEM_CONTROLS))
    return np.concatenate([strip, np.ones(space.size - strip.size, np.float32)])


def build_bank(
    songs: Sequence[SongRef], space: ParamSpace, features: FeatureConfig, *, progress: bool = True, desc: str = "songs"
) -> FeatureBank:
    """Load every song and compute its log-mels and targets.

    Raises:
        InputError: For no songs, a song without ground-truth settings or reference, settings over other roles,
            or songs at different sample rates.
    """
    if not songs:
        raise InputError(f"no {desc} to build training data from; pass a corpus with songs in that split")
    names, stems, references, presence, targets, masks, rates = [], [], [], [], [], [], set()
    for ref in tqdm(songs, desc=f"log-mels of {desc}", unit="song", disable=not progress):
        song = ref.load()
        if song.settings is None or song.reference is None:
            raise InputError(
                f"song {song.name!r} ({ref.path}) has no ground-truth settings or no reference; supervised training "
                "needs both: use the synthetic corpus (`mixenv corpus --out DIR`)"
            )
        if song.settings.space != space:
            raise InputError(
                f"song {song.name!r} has settings for roles {song.settings.space.roles}; the model has {space.roles}"
            )
        logmels = clip_logmels(song, space.roles, features)
        assert logmels.reference is not None
        names.append(song.name)
        stems.append(torch.from_numpy(logmels.stems))
        references.append(torch.from_numpy(logmels.reference))
        presence.append(logmels.presence)
        targets.append(song.settings.normalized())
        masks.append(target_mask(space, logmels.presence))
        rates.add(song.sample_rate)
    if len(rates) != 1:
        raise InputError(f"songs come at several sample rates {sorted(rates)} Hz; load them at one rate")
    return FeatureBank(
        tuple(names),
        tuple(stems),
        tuple(references),
        torch.from_numpy(np.stack(presence)),
        torch.from_numpy(np.stack(targets)),
        torch.from_numpy(np.stack(masks)),
        rates.pop(),
    )


def check_crop(bank: FeatureBank, crop_frames: int) -> None:
    """Refuse a crop longer than the shortest song.

    Raises:
        InputError: If some song has fewer than ``crop_frames`` frames.
    """
    if bank.min_frames < crop_frames:
        raise InputError(
            f"clips of {crop_frames} frames do not fit the shortest song ({bank.min_frames} frames); "
            "use a shorter clip_seconds"
        )


def random_batch(bank: FeatureBank, songs: np.ndarray, crop_frames: int, rng: np.random.Generator) -> Batch:
    """Random crops of ``crop_frames`` frames, one from each of ``songs`` (indices), stems and reference aligned."""
    starts = [int(rng.integers(0, bank.stems[i].shape[-1] - crop_frames + 1)) for i in songs]
    return _crops(bank, songs, starts, crop_frames)


def fixed_batches(bank: FeatureBank, crop_frames: int, clips_per_song: int, batch_size: int) -> list[Batch]:
    """Evenly spaced crops of every song (the same every time: for validation), in batches."""
    songs, starts = [], []
    for i, stems in enumerate(bank.stems):
        positions = np.linspace(0, stems.shape[-1] - crop_frames, clips_per_song).round().astype(int)
        songs.extend([i] * clips_per_song)
        starts.extend(int(p) for p in positions)
    order = np.asarray(songs)
    return [
        _crops(bank, order[k : k + batch_size], starts[k : k + batch_size], crop_frames)
        for k in range(0, len(songs), batch_size)
    ]


def _crops(bank: FeatureBank, songs: np.ndarray, starts: Sequence[int], crop_frames: int) -> Batch:
    index = torch.as_tensor(np.asarray(songs), dtype=torch.long)
    stems = torch.stack([bank.stems[i][..., s : s + crop_frames] for i, s in zip(songs, starts, strict=True)])
    references = torch.stack([bank.references[i][..., s : s + crop_frames] for i, s in zip(songs, starts, strict=True)])
    inputs = ModelInputs(from_uint8(stems), bank.presence[index], from_uint8(references))
    return Batch(inputs, bank.targets[index], bank.masks[index])
