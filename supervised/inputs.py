"""What every supervised model reads, made from a clip the way MixEnv makes its log-mel observation.

A clip becomes the log-mel of each stem's mid channel ``(roles, mels, frames)`` (zeros, i.e. silence, where a
role is absent), a presence mask ``(roles,)`` and the reference's stereo log-mel ``(2, mels, frames)``, all
quantised to uint8 with :func:`mixenv.features.to_uint8` exactly as the env quantises its observation. MixEnv's
first observation of an episode shows the stems under neutral settings, i.e. (up to its 20 Hz high-pass) the raw
stems, so a model trained on these inputs reads that observation after :func:`mixenv.features.from_uint8` alone.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import NamedTuple

import numpy as np
import torch

from mixenv.data import Multitrack
from mixenv.features import FeatureConfig, LogMel, from_uint8, to_uint8


class InputError(ValueError):
    """Inputs a model cannot read (shapes, roles, sample rate); the message names the fix."""


class ModelInputs(NamedTuple):
    """A batch of model inputs, float32 in [-1, 1].

    Attributes:
        stems: ``(batch, roles, mels, frames)`` log-mel of each stem's mid channel; absent stems are -1 (silence).
        presence: ``(batch, roles)``, 1 where the song has the stem, else 0.
        reference: ``(batch, 2, mels, frames)`` log-mel of the reference mix, or ``None`` (reference-free).
    """

    stems: torch.Tensor
    presence: torch.Tensor
    reference: torch.Tensor | None = None


class ClipLogMels(NamedTuple):
    """One clip as MixEnv observes it: uint8 log-mel images (``v / 127.5 - 1`` in the normalised scale).

    Attributes:
        stems: ``(roles, mels, frames)`` uint8, zeros for absent roles.
        presence: ``(roles,)`` float32.
        reference: ``(2, mels, frames)`` uint8, or ``None`` for a song without a reference.
    """

    stems: np.ndarray
    presence: np.ndarray
    reference: np.ndarray | None


def check_sample_rate(sample_rate: int, features: FeatureConfig) -> None:
    """Refuse audio whose Nyquist frequency lies below the top mel band: its highest bands would read as silence.

    Any rate at or above ``2 * f_max_hz`` gives the same time-frequency grid (windows and hops are set in seconds),
    so a model trained at 22.05 kHz reads 44.1 kHz audio as it is.

    Raises:
        InputError: For a rate below ``2 * features.f_max_hz``.
    """
    if sample_rate / 2 < features.f_max_hz:
        needed = int(np.ceil(2 * features.f_max_hz))
        raise InputError(
            f"audio at {sample_rate} Hz has no content above {sample_rate / 2:g} Hz, but the model's log-mel reaches "
            f"{features.f_max_hz:g} Hz; load the song at {needed} Hz or more, e.g. with "
            f"LoadPolicy(sample_rate={max(needed, 22_050)}, on_rate_mismatch='resample')"
        )


def clip_logmels(clip: Multitrack, roles: Sequence[str], features: FeatureConfig) -> ClipLogMels:
    """The model inputs of one clip (or a whole song), as uint8 images.

    Raises:
        InputError: For a stem whose role is not one of ``roles``, or a sample rate below the features' range.
    """
    unknown = sorted(set(clip.roles) - set(roles))
    if unknown:
        raise InputError(
            f"song {clip.name!r} has stems {unknown} but the model knows the roles {tuple(roles)}; map them onto "
            "those roles when loading (load_folder(..., roles={'file.wav': 'other'}))"
        )
    check_sample_rate(clip.sample_rate, features)
    present = [role for role in roles if role in clip.stems]
    mids = np.stack([clip.stems[role].mean(axis=0) for role in present])
    signals = mids if clip.reference is None else np.concatenate([mids, clip.reference])
    with torch.inference_mode():
        images = to_uint8(_logmel(clip.sample_rate, features)(torch.from_numpy(signals)).numpy())
    stems = np.zeros((len(roles), *images.shape[1:]), np.uint8)
    stems[[list(roles).index(role) for role in present]] = images[: len(present)]
    presence = np.array([role in clip.stems for role in roles], np.float32)
    return ClipLogMels(stems, presence, None if clip.reference is None else images[len(present) :])


def batch_inputs(clips: Sequence[ClipLogMels], use_reference: bool = True) -> ModelInputs:
    """Stack clips of equal length into float32 :class:`ModelInputs` (the reference only if every clip has one)."""
    with_reference = use_reference and all(c.reference is not None for c in clips)
    return ModelInputs(
        from_uint8(np.stack([c.stems for c in clips])),
        torch.from_numpy(np.stack([c.presence for c in clips])),
        from_uint8(np.stack([c.reference for c in clips])) if with_reference else None,
    )


@functools.lru_cache(maxsize=4)
def _logmel(sample_rate: int, features: FeatureConfig) -> LogMel:
    return LogMel(sample_rate, features)
