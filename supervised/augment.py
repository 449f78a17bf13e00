"""Augmentation of log-mel batches: time and frequency masking, noise, and gain jitter with consistent targets.

All of them act in the normalised log-mel domain of :mod:`mixenv.features` (``x = 2 * dB / -floor_db + 1``,
clipped to [-1, 1], so 1 dB is 1/40 with the default -80 dB floor) and draw from one ``torch.Generator``:

* ``time``: SpecAugment time masks: per signal (each stem, the reference), up to ``time_masks`` spans of
  0..``time_mask_frames`` frames set to -1, i.e. silence.
* ``freq``: the same over mel bands (0..``freq_mask_bands`` bands per span).
* ``noise``: Gaussian noise of ``noise_std`` (normalised units; 0.02 is 0.8 dB) on every bin of the present stems
  and the reference, clipped back to [-1, 1].
* ``gain``: each present stem arrives ``g`` dB hotter or quieter, ``g`` uniform within +-``gain_db``.

Gain jitter keeps the targets exact. A stem ``g`` dB hotter mixes to the very same audio if its fader comes down
``g`` dB and its compressor threshold goes up ``g`` dB: the EQ is linear and the compressor reacts to level relative
to its threshold, so stem -> EQ -> compressor -> fader gives identical output and the reference stays valid. So
those two targets are moved (through their ParamSpace ranges) and every other control is left as it is; ``g`` is
drawn only from the interval that keeps both moved targets inside their ranges, where the adjustment is exact.
What stays approximate: log-mel bins already at the -80 dB floor or at 0 dB remain clipped.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import torch

from mixenv.features import FeatureConfig
from mixenv.params import ParamSpace
from supervised.data import Batch

AUGMENTATIONS: tuple[str, ...] = ("time", "freq", "noise", "gain")
DEFAULT_AUGMENTATIONS: tuple[str, ...] = ("gain",)
"""What training uses unless told otherwise. Masks and noise hit each signal independently, so they break the
stems-vs-reference comparison the models rely on (:mod:`mixenv.match`); gain jitter keeps it exact.
Measured by ``experiments.benchmark_supervised`` (cnn, test songs, seed 0): MRSTFT 0.567 with gain only (0.564 +-
0.012 over 3 seeds), 0.621 with none, 0.620 with all four."""


@dataclass(frozen=True)
class AugmentConfig:
    """Which augmentations run and how strong they are.

    Attributes:
        enabled: Names out of :data:`AUGMENTATIONS`; empty for none.
        time_masks: Time masks per signal.
        time_mask_frames: Longest time mask, in frames (16 frames are 0.37 s).
        freq_masks: Frequency masks per signal.
        freq_mask_bands: Widest frequency mask, in mel bands.
        noise_std: Standard deviation of the log-mel noise, in normalised units.
        gain_db: Largest gain shift of a stem, in dB.
    """

    enabled: tuple[str, ...] = DEFAULT_AUGMENTATIONS
    time_masks: int = 2
    time_mask_frames: int = 16
    freq_masks: int = 2
    freq_mask_bands: int = 8
    noise_std: float = 0.02
    gain_db: float = 6.0

    def __post_init__(self) -> None:
        unknown = sorted(set(self.enabled) - set(AUGMENTATIONS))
        if unknown:
            raise ValueError(f"unknown augmentations {unknown}; choose from {', '.join(AUGMENTATIONS)}")
        numbers = (self.time_masks, self.time_mask_frames, self.freq_masks, self.freq_mask_bands)
        if min(numbers) < 0 or self.noise_std < 0 or self.gain_db < 0:
            raise ValueError(f"augmentation sizes must be >= 0, got {self}")


class Augmenter:
    """Applies an :class:`AugmentConfig` to training batches.

    Args:
        config: What to apply.
        space: The settings layout of the targets (for the gain jitter's target adjustment).
        features: The log-mel configuration (its floor sets how many normalised units a dB is).
    """

    def __init__(self, config: AugmentConfig, space: ParamSpace, features: FeatureConfig) -> None:
        self.config, self.space, self.features = config, space, features

    def __call__(self, batch: Batch, generator: torch.Generator) -> Batch:
        """An augmented copy of ``batch`` (the input tensors are not modified)."""
        c, inputs = self.config, batch.inputs
        stems, reference, targets = inputs.stems, inputs.reference, batch.targets
        present = inputs.presence[:, :, None, None]
        if "gain" in c.enabled:
            stems, targets, _ = gain_jitter(
                stems, inputs.presence, targets, self.space, self.features, c.gain_db, generator
            )
        spans = {"time": (-1, c.time_masks, c.time_mask_frames), "freq": (-2, c.freq_masks, c.freq_mask_bands)}
        for name, (dim, count, width) in spans.items():
            if name in c.enabled:
                stems = mask_spans(stems, dim, count, width, generator)
                reference = None if reference is None else mask_spans(reference, dim, count, width, generator)
        if "noise" in c.enabled:
            stems = torch.where(present > 0, add_noise(stems, c.noise_std, generator), stems)
            reference = None if reference is None else add_noise(reference, c.noise_std, generator)
        return replace(batch, inputs=inputs._replace(stems=stems, reference=reference), targets=targets)


def mask_spans(x: torch.Tensor, dim: int, count: int, max_width: int, generator: torch.Generator) -> torch.Tensor:
    """Set ``count`` random spans of 0..``max_width`` positions along ``dim`` to -1, per signal.

    Args:
        x: ``(batch, signals, mels, frames)``; every ``(batch, signal)`` gets its own spans, shared by everything
            else in it (a span of frames is masked in every band, and vice versa).
        dim: -1 for time (frames), -2 for frequency (mel bands).
        count: Spans per signal.
        max_width: Widest span (inclusive).
        generator: Source of randomness.
    """
    if count == 0 or max_width == 0:
        return x
    length = x.shape[dim]
    n = x.shape[0] * x.shape[1]
    widths = torch.randint(0, min(max_width, length) + 1, (n, count), generator=generator)
    starts = (torch.rand((n, count), generator=generator) * (length - widths + 1)).long()
    positions = torch.arange(length)
    masked = ((positions >= starts[..., None]) & (positions < (starts + widths)[..., None])).any(dim=1)  # (n, length)
    shape = [x.shape[0], x.shape[1], 1, 1]
    shape[dim] = length
    return x.masked_fill(masked.reshape(shape), -1.0)


def add_noise(x: torch.Tensor, std: float, generator: torch.Generator) -> torch.Tensor:
    """``x`` plus Gaussian noise of ``std``, clipped to [-1, 1]."""
    return (x + std * torch.randn(x.shape, generator=generator)).clamp(-1.0, 1.0)


def gain_jitter(
    stems: torch.Tensor,
    presence: torch.Tensor,
    targets: torch.Tensor,
    space: ParamSpace,
    features: FeatureConfig,
    max_db: float,
    generator: torch.Generator,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Shift each present stem's level by a random number of dB and move its fader and threshold targets to match.

    Args:
        stems: ``(batch, roles, mels, frames)`` normalised log-mel.
        presence: ``(batch, roles)``.
        targets: ``(batch, params)`` normalised settings.
        space: Layout of ``targets``.
        features: Log-mel configuration (dB per normalised unit).
        max_db: Largest shift.
        generator: Source of randomness.

    Returns:
        The shifted stems, the adjusted targets and the shifts ``(batch, roles)`` in dB (0 for absent stems).

    Raises:
        ValueError: If the layout's fader or threshold control is not on a linear dB scale.
    """
    gain = torch.tensor([space.index(f"{role}.gain_db") for role in space.roles])
    threshold = torch.tensor([space.index(f"{role}.comp_threshold_db") for role in space.roles])
    gain_per_db, threshold_per_db = (_per_db(space, int(i[0])) for i in (gain, threshold))
    g_n, t_n = targets[:, gain], targets[:, threshold]
    # Feasible shifts: fader (g_n - shift * gain_per_db) and threshold (t_n + shift * threshold_per_db) in [-1, 1].
    low = torch.maximum((g_n - 1) / gain_per_db, (-1 - t_n) / threshold_per_db).clamp(min=-max_db, max=0.0)
    high = torch.minimum((g_n + 1) / gain_per_db, (1 - t_n) / threshold_per_db).clamp(min=0.0, max=max_db)
    shift_db = (low + torch.rand(g_n.shape, generator=generator) * (high - low)) * presence
    units_per_db = 2.0 / -features.floor_db
    shifted = (stems + (shift_db * units_per_db)[..., None, None]).clamp(-1.0, 1.0)
    adjusted = targets.clone()
    adjusted[:, gain] = g_n - shift_db * gain_per_db
    adjusted[:, threshold] = t_n + shift_db * threshold_per_db
    return torch.where(presence[..., None, None] > 0, shifted, stems), adjusted.clamp(-1.0, 1.0), shift_db


def _per_db(space: ParamSpace, index: int) -> float:
    """Normalised units per dB of a linear control."""
    control = space.controls[index]
    if control.scale != "linear" or control.unit != "dB":
        raise ValueError(f"gain jitter needs {space.names[index]} on a linear dB scale, got {control.scale}")
    return 2.0 / (control.high - control.low)
