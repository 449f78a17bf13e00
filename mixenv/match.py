"""Reference matching: how loud each stem sits in the reference, band by band, channel by channel, loud vs quiet.

A mix is (nearly) a sum of processed stems, and for stems that do not play the same notes the powers add: in each
mel band ``ref(t) ≈ Σ_i g_i · stem_i(t)``. Fitting the gains ``g_i`` by least squares over a clip's frames reads
each stem's fader and EQ off the reference (the gain per band), its pan (left vs right channel) and its compression
(the gain in the stem's loud frames vs its quiet ones). A backbone embedding of the stem alone cannot know these, and
one of the reference alone mixes every stem together; this module gives the comparison explicitly, to the supervised
models (on the raw stems) and to MixEnv's agents (on the stems as their strips play them: under the reference's own
settings every stem's gains agree, up to the master bus's). It is a fixed function of the log-mels (no weights, no
gradients): a few small linear solves per clip.
"""

from __future__ import annotations

import torch
from torch import nn

from mixenv.features import FeatureConfig, logmel_to_power

GAIN_RANGE_DB = 30.0
"""Fitted gains are clipped to +-this: beyond it (or negative, which least squares allows) a gain says only
"far quieter" or "far louder", and a stem that hardly plays in a band gets a gain that is noise."""
RIDGE = 1e-3
"""Ridge on the column-normalised normal equations: keeps a stem that is silent in a band from blowing up."""


class ReferenceMatch(nn.Module):
    """Per-stem reference-matching features ``(batch, roles, features)`` from normalised log-mels.

    For each of ``groups`` bands of adjacent mels, each reference channel is fitted as a weighted sum of the stems'
    powers, with a separate weight for each stem's loud frames (above its median frame energy) and quiet ones. The
    features per stem and band are the four fitted gains in dB (left/right x loud/quiet) and the stem's own mean
    level there (so a model can tell a fitted gain from the noise of a band the stem does not play in); dB values
    are divided by 20.

    Args:
        n_mels: Mel bands of the inputs; must divide by ``groups``.
        groups: Bands to fit separately.
        floor_db: The level that log-mel value -1 stands for (:attr:`mixenv.features.FeatureConfig.floor_db`).
    """

    def __init__(self, n_mels: int, groups: int = 16, floor_db: float = FeatureConfig().floor_db) -> None:
        super().__init__()
        if n_mels % groups:
            raise ValueError(f"n_mels={n_mels} must be a multiple of groups={groups}")
        self.groups = groups
        self.floor_db = floor_db

    @property
    def features_per_stem(self) -> int:
        """Length of each stem's feature vector."""
        return 5 * self.groups

    def forward(self, stems: torch.Tensor, presence: torch.Tensor, reference: torch.Tensor) -> torch.Tensor:
        """Features ``(batch, roles, 5 * groups)`` of ``stems`` ``(batch, roles, mels, frames)`` in ``reference``
        ``(batch, 2, mels, frames)``; zero for absent stems."""
        with torch.no_grad():
            batch, roles, mels, frames = stems.shape
            # An absent stem's slot may hold anything: its column must not take part in the fit.
            power = logmel_to_power(stems, self.floor_db) * presence[:, :, None, None]
            power = power.reshape(batch, roles, self.groups, mels // self.groups, frames)
            target = logmel_to_power(reference, self.floor_db).reshape(
                batch, 2, self.groups, mels // self.groups, frames
            )
            energy = power.sum(dim=(2, 3))
            loud = (energy > energy.median(dim=-1, keepdim=True).values).to(power.dtype)[:, :, None, None, :]
            # Columns: every stem's loud frames, then its quiet frames; rows: the (mel, frame) cells of a band group.
            design = torch.cat([power * loud, power * (1.0 - loud)], dim=1).flatten(3).permute(0, 2, 3, 1)
            gains = self._fit(design, target.flatten(3).permute(0, 2, 3, 1))
            gains_db = 10.0 * torch.log10(gains.clamp(10.0 ** (-GAIN_RANGE_DB / 10.0), 10.0 ** (GAIN_RANGE_DB / 10.0)))
            # (batch, groups, 2 * roles, channels) -> (batch, roles, groups, loud/quiet x channels)
            gains_db = gains_db.reshape(batch, self.groups, 2, roles, 2).permute(0, 3, 1, 2, 4).flatten(3)
            level_db = 10.0 * torch.log10(power.mean(dim=(3, 4)).clamp_min(1e-12))[..., None]
            features = torch.cat([gains_db, level_db], dim=-1) / 20.0
            return features.flatten(2) * presence[:, :, None]

    @staticmethod
    def _fit(design: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """Ridge least squares per batch and group: ``design`` ``(B, G, cells, k)``, ``target`` ``(B, G, cells, c)``
        -> weights ``(B, G, k, c)``, on columns scaled to unit RMS so that the ridge means the same for every stem.

        An exact solve, so the features are a deterministic function of the inputs; a non-negative fit by
        multiplicative updates was tried and had not converged (gains of weak columns still moving by tens of dB)
        after 400 updates.
        """
        scale = design.pow(2).mean(dim=2, keepdim=True).sqrt().clamp_min(1e-12)
        x = design / scale
        gram = x.transpose(2, 3) @ x / x.shape[2] + RIDGE * torch.eye(x.shape[-1], dtype=x.dtype)
        weights = torch.linalg.solve(gram, x.transpose(2, 3) @ target / x.shape[2])
        return weights / scale.transpose(2, 3)
