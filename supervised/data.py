"""Training data: every example's log-mels computed once, in memory; batches are random crops of them.

A :class:`FeatureBank` holds, per example, the uint8 log-mel images of :func:`supervised.inputs.clip_logmels` over
the whole example, its presence mask, its settings in normalised form (the targets) and a mask that leaves out the
controls of absent roles (they have no effect, so nothing can be learnt about them). An example is a song with its
own reference and ground truth, or, with :class:`Remixing`, one of several remixes of a song's stems under settings
drawn from a wide prior (:mod:`mixenv.remix`): then any multitrack trains, ground truth or not. The examples of one
song form a group; an epoch visits every song once, through one of its examples drawn at random. Computing the
default corpus's 240 songs takes about 10 s and 40 MB (remixes: about 0.15 s each), so there is no disk cache to
go stale.
"""

from __future__ import annotations

import concurrent.futures
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import torch
from tqdm.auto import tqdm

from mixenv.data import Multitrack, SongRef
from mixenv.features import FeatureConfig, from_uint8
from mixenv.params import STEM_CONTROLS, ParamSpace
from mixenv.remix import RemixConfig, remix
from supervised.inputs import ClipLogMels, InputError, ModelInputs, clip_logmels


@dataclass(frozen=True)
class FeatureBank:
    """Whole-example inputs and targets of a set of songs.

    Attributes:
        names: Example names (the song's, with ``#k`` for its k-th remix).
        stems: Per example, ``(roles, mels, frames)`` uint8.
        references: Per example, ``(2, mels, frames)`` uint8.
        presence: ``(examples, roles)`` float32.
        targets: ``(examples, params)`` float32 normalised settings.
        masks: ``(examples, params)`` float32, 0 for the controls of absent roles.
        sample_rate: Rate of the songs (remixes may be at other rates: the log-mel grid is set in seconds).
        groups: Per song, the indices of its examples.
    """

    names: tuple[str, ...]
    stems: tuple[torch.Tensor, ...]
    references: tuple[torch.Tensor, ...]
    presence: torch.Tensor
    targets: torch.Tensor
    masks: torch.Tensor
    sample_rate: int
    groups: tuple[tuple[int, ...], ...]

    def __len__(self) -> int:
        return len(self.names)

    @property
    def songs(self) -> int:
        """How many songs the examples come from."""
        return len(self.groups)

    def epoch_order(self, rng: np.random.Generator) -> np.ndarray:
        """One example of every song, songs in random order (a song with one example draws nothing for it)."""
        return np.array(
            [g[0] if len(g) == 1 else int(rng.choice(g)) for g in (self.groups[i] for i in rng.permutation(self.songs))]
        )

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


@dataclass(frozen=True)
class Remixing:
    """Train on remixes instead of the songs' own mixes (:mod:`mixenv.remix`).

    Attributes:
        mixes_per_song: Remixes of every song.
        config: How each is remixed (the wide prior, re-colouring, dropped roles, sample rates).
        originals: Keep each song's own mix as one more example where it has a ground truth (the conventional mixes
            its prior makes, beside the wide prior's).
        excerpt_seconds: Each remix is of a random excerpt this long (``None``: the whole song); shorter is cheaper.
        seed: Remix ``k`` of song ``i`` draws from ``default_rng([seed, i, k])``.
    """

    mixes_per_song: int = 4
    config: RemixConfig = field(default_factory=RemixConfig)
    excerpt_seconds: float | None = 5.0
    seed: int = 0
    originals: bool = True

    def __post_init__(self) -> None:
        if self.mixes_per_song < 1:
            raise ValueError(f"mixes_per_song must be at least 1, got {self.mixes_per_song}")
        if self.excerpt_seconds is not None and self.excerpt_seconds <= 0:
            raise ValueError(f"excerpt_seconds must be positive, got {self.excerpt_seconds}")


def build_bank(
    songs: Sequence[SongRef],
    space: ParamSpace,
    features: FeatureConfig,
    *,
    remixing: Remixing | None = None,
    workers: int = 2,
    progress: bool = True,
    desc: str = "songs",
) -> FeatureBank:
    """Load every song and compute its examples' log-mels and targets.

    Args:
        songs: The songs.
        space: The settings layout of the targets.
        features: The log-mel front end.
        remixing: Remix every song (any multitrack); ``None`` trains on each song's own reference and ground truth.
        workers: Threads computing examples (rendering and the log-mel front end release the GIL).
        progress: Show a progress bar.
        desc: What the songs are, for messages.

    Raises:
        InputError: For no songs, a song without ground-truth settings or reference (without remixing), settings
            over other roles, or songs at different sample rates.
    """
    if not songs:
        raise InputError(f"no {desc} to build training data from; pass a collection with songs in that split")

    def examples(index: int) -> tuple[int, list[tuple[str, np.ndarray, ClipLogMels]]]:
        """The song's rate, and its examples: name, normalised settings, log-mels (the audio is not kept)."""
        song = songs[index].load()
        if remixing is None:
            _check_trainable(song, songs[index], space)
            made = [(song.name, song)]
        else:
            made = [(song.name, song)] if remixing.originals and song.settings is not None else []
            for k in range(remixing.mixes_per_song):
                rng = np.random.default_rng([remixing.seed, index, k])
                made.append((f"{song.name}#{k}", remix(_excerpt(song, rng, remixing), rng, remixing.config, space)))
        return song.sample_rate, [
            (name, _target(example), clip_logmels(example, space.roles, features)) for name, example in made
        ]

    pool = concurrent.futures.ThreadPoolExecutor(max(1, workers))
    entries: list[tuple[str, np.ndarray, ClipLogMels]] = []
    groups, rates = [], set()
    try:
        with tqdm(total=len(songs), desc=f"examples of {desc}", unit="song", disable=not progress) as bar:
            for rate, made in pool.map(examples, range(len(songs))):
                groups.append(tuple(range(len(entries), len(entries) + len(made))))
                entries += made
                rates.add(rate)
                bar.update(1)
    finally:  # on an interrupt, drop the queued songs instead of computing them all first
        pool.shutdown(wait=True, cancel_futures=True)
    if len(rates) != 1:
        raise InputError(f"songs come at several sample rates {sorted(rates)} Hz; load them at one rate")
    presence = np.stack([logmels.presence for _, _, logmels in entries])
    return FeatureBank(
        tuple(name for name, _, _ in entries),
        tuple(torch.from_numpy(logmels.stems) for _, _, logmels in entries),
        tuple(torch.from_numpy(_reference(logmels)) for _, _, logmels in entries),
        torch.from_numpy(presence),
        torch.from_numpy(np.stack([target for _, target, _ in entries])),
        torch.from_numpy(np.stack([target_mask(space, p) for p in presence])),
        rates.pop(),
        tuple(groups),
    )


def _check_trainable(song: Multitrack, ref: SongRef, space: ParamSpace) -> None:
    if song.settings is None or song.reference is None:
        raise InputError(
            f"song {song.name!r} ({ref.path}) has no ground-truth settings or no reference; train on it with "
            "remixes of its stems instead (--mixes-per-song N), or use the synthetic corpus"
        )
    if song.settings.space != space:
        raise InputError(
            f"song {song.name!r} has settings for roles {song.settings.space.roles}; the model has {space.roles}"
        )


def _target(example: Multitrack) -> np.ndarray:
    assert example.settings is not None  # checked for the songs' own mixes; drawn for the remixes
    return example.settings.normalized()


def _excerpt(song: Multitrack, rng: np.random.Generator, remixing: Remixing) -> Multitrack:
    """A random excerpt of ``remixing.excerpt_seconds`` (the whole song if it is shorter or none is asked)."""
    if remixing.excerpt_seconds is None:
        return song
    length = round(remixing.excerpt_seconds * song.sample_rate)
    if length >= song.num_samples:
        return song
    start = int(rng.integers(0, song.num_samples - length + 1))
    return song.segment(start, length)


def _reference(logmels: ClipLogMels) -> np.ndarray:
    assert logmels.reference is not None  # every example has a reference: its own, or the remix's
    return logmels.reference


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
