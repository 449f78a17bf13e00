"""The "good mix" prior: ground-truth settings an engineer might plausibly choose for a coloured multitrack.

Per stem: the EQ partly undoes the recording's colouration (shelves against the tilt, the mid band cutting the
resonance) plus a role's usual taste (air on vocals, weight on kick and bass), a high-pass matched to the role
(higher when there is rumble), compression a few dB into the stem's peaks, and a pan that keeps vocals, bass and
drums central and spreads the rest. Faders are then set from measured loudness, so the balance follows role
targets (vocals on top, then drums, bass, the rest) with a little personal variation. On the bus: gentle EQ,
glue compression a few dB under the bus peak, and a limiter pushed by up to 6 dB.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from mixenv.data.synth.colour import Colouration
from mixenv.loudness import integrated_lufs, peak_dbfs
from mixenv.params import MixSettings, ParamSpace
from mixenv.remix import log_uniform
from mixenv.render import Renderer

_HPF_RANGE_HZ = {"vocals": (70.0, 160.0), "drums": (20.0, 45.0), "bass": (20.0, 35.0), "other": (50.0, 220.0)}
_SHELF_TASTE_DB = {"vocals": (-1.0, 2.0), "drums": (1.0, 1.0), "bass": (1.0, -1.0), "other": (-1.0, 0.5)}
_COMP_DEPTH_DB = {"vocals": (6.0, 14.0), "drums": (4.0, 10.0), "bass": (4.0, 12.0), "other": (2.0, 8.0)}
_COMP_RATIO = {"vocals": (2.0, 5.0), "drums": (2.0, 4.0), "bass": (2.0, 5.0), "other": (1.2, 3.0)}
RESONANT_DB = 1.5
"""A stem whose recorded resonance is stronger than this gets its mid band aimed at the resonance, cutting it."""
_BALANCE_LU = {"vocals": 0.0, "drums": -1.5, "bass": -3.0, "other": -4.0}
"""Loudness of each role relative to the vocals in the balanced mix."""


def sample_settings(
    rng: np.random.Generator,
    stems: Mapping[str, np.ndarray],
    colourations: Mapping[str, Colouration],
    sample_rate: int,
    space: ParamSpace,
) -> MixSettings:
    """Draw ground-truth settings for coloured ``stems`` (role -> ``(channels, samples)``)."""
    strips = {role: _strip(rng, role, colourations[role]) for role in stems}
    ungained = space.from_dict(strips, {})
    processed = Renderer(sample_rate, tuple(stems)).render(stems, ungained, return_stems=True).stems
    vocal_level_lufs = rng.uniform(-24.0, -18.0)
    bus = np.zeros((2, next(iter(stems.values())).shape[1]))
    for role, audio in processed.items():
        target = vocal_level_lufs + _BALANCE_LU.get(role, -4.0) + rng.normal(0.0, 1.0 if role == "vocals" else 1.5)
        gain_db = float(np.clip(target - integrated_lufs(audio, sample_rate), -24.0, 12.0))
        strips[role]["gain_db"] = gain_db
        bus += audio * 10 ** (gain_db / 20)
    master = {
        "master_low_shelf_db": rng.normal(0.5, 1.0),
        "master_high_shelf_db": rng.normal(0.5, 1.2),
        "master_comp_threshold_db": peak_dbfs(bus) - rng.uniform(2.0, 8.0),
        "master_comp_ratio": log_uniform(rng, 1.2, 3.0),
        "master_limiter_db": -rng.uniform(0.0, 6.0),
    }
    return space.from_dict(strips, master)


def _strip(rng: np.random.Generator, role: str, c: Colouration) -> dict[str, float]:
    """A stem's strip without its fader (set later from loudness)."""
    low_taste, high_taste = _SHELF_TASTE_DB.get(role, (0.0, 0.0))
    hpf_low, hpf_high = _HPF_RANGE_HZ.get(role, (50.0, 200.0))
    if c.rumble_dbfs is not None:
        hpf_low = max(hpf_low, 90.0)
        hpf_high = max(hpf_high, 1.2 * hpf_low)
    if c.resonance_db > RESONANT_DB:
        mid_freq_hz = c.resonance_hz * float(np.exp(rng.normal(0.0, 0.1)))
        mid_db = -c.resonance_db * rng.uniform(0.6, 1.0) + rng.normal(0.0, 0.5)
    else:
        mid_freq_hz = log_uniform(rng, 300.0, 4000.0)
        mid_db = rng.normal(0.0, 1.5)
    depth_low, depth_high = _COMP_DEPTH_DB.get(role, (2.0, 8.0))
    ratio_low, ratio_high = _COMP_RATIO.get(role, (1.2, 3.0))
    if role == "other":
        pan = rng.choice([-1.0, 1.0]) * rng.uniform(0.15, 0.6)
    else:
        pan = rng.normal(0.0, 0.05 if role == "drums" else 0.03)
    return {
        "pan": float(pan),
        "hpf_hz": log_uniform(rng, hpf_low, hpf_high),
        "low_shelf_db": float(-c.low_shelf_db * rng.uniform(0.6, 1.0) + rng.normal(low_taste, 1.0)),
        "mid_freq_hz": float(mid_freq_hz),
        "mid_db": float(mid_db),
        "high_shelf_db": float(-c.high_shelf_db * rng.uniform(0.6, 1.0) + rng.normal(high_taste, 1.0)),
        "comp_threshold_db": float(c.peak_dbfs - rng.uniform(depth_low, depth_high)),
        "comp_ratio": log_uniform(rng, ratio_low, ratio_high),
    }
