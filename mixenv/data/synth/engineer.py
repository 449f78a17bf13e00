"""The evaluation sets' mix prior: an engineer's conventional moves, mastered to a loudness target.

Not the training corpus's prior (:mod:`mixenv.data.synth.prior`), which reads each stem's known colouration and
undoes part of it: this engineer never sees how a stem was recorded. Per stem, a high-pass for the role, a small
shelf of taste, a mid-band move (a presence lift on the lead, a cut of mud or a boost elsewhere), compression a
few dB into the stem's peaks and a pan; faders from measured loudness to a balance relative to the lead; on the
bus, gentle shelves and glue compression; then the limiter and faders drive the master to ``target_lufs`` (-14,
the streaming norm) as :func:`mixenv.mastering.drive_to_loudness` does, so the reference stays exactly
reproducible from its settings. ``spread`` widens every draw: 1 is conventional, 2 wide.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np

from mixenv.loudness import integrated_lufs, peak_dbfs
from mixenv.mastering import drive_to_loudness
from mixenv.params import MixSettings, ParamSpace
from mixenv.remix import log_uniform
from mixenv.render import Renderer

LEAD = "vocals"
_HPF_HZ = {"vocals": (80.0, 140.0), "drums": (25.0, 50.0), "bass": (25.0, 40.0), "other": (90.0, 220.0)}
_SHELVES_DB = {"vocals": (-1.0, 2.0), "drums": (0.5, 1.5), "bass": (1.5, -1.0), "other": (-1.5, 0.5)}
"""Mean low and high shelf per role (a little weight on bass and kick, air on the lead, less low end elsewhere)."""
_COMPRESSION = {
    "vocals": ((6.0, 12.0), (2.5, 6.0)),
    "drums": ((3.0, 8.0), (2.0, 4.0)),
    "bass": ((5.0, 10.0), (3.0, 6.0)),
}
"""Per role: how many dB under the stem's peak the threshold sits, and the ratio range."""
_PRESENCE_HZ = (2_000.0, 4_500.0)
_MUD_HZ = (250.0, 500.0)


@dataclass(frozen=True)
class EngineerPrior:
    """Draws a song's settings as an engineer would (see the module docstring); call it as a :data:`Prior`.

    Attributes:
        balance_lu: Per role, the range its loudness is drawn from, relative to the lead's (uniform).
        spread: Scales every EQ, compression, pan and balance draw around its conventional value.
        target_lufs: The master's loudness.
        lead_lufs: The range the lead's loudness is drawn from, before mastering.
    """

    balance_lu: Mapping[str, tuple[float, float]] = field(
        default_factory=lambda: {"drums": (-3.0, -1.0), "bass": (-5.0, -3.0), "other": (-7.0, -4.0)}
    )
    spread: float = 1.0
    target_lufs: float = -14.0
    lead_lufs: tuple[float, float] = (-26.0, -20.0)

    def __call__(
        self, rng: np.random.Generator, stems: Mapping[str, np.ndarray], sample_rate: int, space: ParamSpace
    ) -> MixSettings:
        renderer = Renderer(sample_rate, tuple(stems))
        strips = {role: self._strip(rng, role, stems[role]) for role in stems}
        processed = renderer.render(stems, space.from_dict(strips, {}), return_stems=True).stems
        lead = LEAD if LEAD in stems else next(iter(stems))
        lead_lufs = rng.uniform(*self.lead_lufs)
        bus = np.zeros((2, next(iter(stems.values())).shape[1]))
        for role, audio in processed.items():
            low, high = self.balance_lu.get(role, (-6.0, -3.0))
            centre, half = (low + high) / 2, (high - low) / 2 * self.spread
            target = lead_lufs + (0.0 if role == lead else rng.uniform(centre - half, centre + half))
            gain_db = float(np.clip(target - integrated_lufs(audio, sample_rate), -24.0, 12.0))
            strips[role]["gain_db"] = gain_db
            bus += audio * 10 ** (gain_db / 20)
        master = {
            "master_low_shelf_db": rng.normal(0.0, 1.0 * self.spread),
            "master_high_shelf_db": rng.normal(0.8, 1.0 * self.spread),
            "master_comp_threshold_db": peak_dbfs(bus) - rng.uniform(3.0, 3.0 + 5.0 * self.spread),
            "master_comp_ratio": log_uniform(rng, 1.3, 1.3 + 1.5 * self.spread),
        }
        settings = space.from_dict(strips, master)
        return drive_to_loudness(
            lambda s: renderer.render(stems, s).mix, settings, tuple(stems), sample_rate, self.target_lufs
        )

    def _strip(self, rng: np.random.Generator, role: str, audio: np.ndarray) -> dict[str, float]:
        s = self.spread
        low_mean, high_mean = _SHELVES_DB.get(role, (0.0, 0.0))
        if role == LEAD:
            mid_freq_hz, mid_db = log_uniform(rng, *_PRESENCE_HZ), rng.uniform(0.5, 1.0 + 2.0 * s)
        elif rng.random() < 0.6:
            mid_freq_hz, mid_db = log_uniform(rng, *_MUD_HZ), -rng.uniform(0.5, 1.0 + 2.5 * s)
        else:
            mid_freq_hz, mid_db = log_uniform(rng, 300.0, 5_000.0), rng.normal(0.0, 1.5 * s)
        (depth_low, depth_high), (ratio_low, ratio_high) = _COMPRESSION.get(role, ((2.0, 6.0), (1.5, 3.0)))
        pan = rng.choice([-1.0, 1.0]) * rng.uniform(0.2, 0.4 + 0.25 * s) if role == "other" else rng.normal(0, 0.02 * s)
        return {
            "pan": float(pan),
            "hpf_hz": log_uniform(rng, *_HPF_HZ.get(role, (60.0, 200.0))),
            "low_shelf_db": float(rng.normal(low_mean, 1.0 * s)),
            "mid_freq_hz": float(mid_freq_hz),
            "mid_db": float(mid_db),
            "high_shelf_db": float(rng.normal(high_mean, 1.0 * s)),
            "comp_threshold_db": float(peak_dbfs(audio) - rng.uniform(depth_low, depth_high * max(s, 1.0))),
            "comp_ratio": log_uniform(rng, ratio_low, min(ratio_high * max(s, 1.0), 10.0)),
        }
