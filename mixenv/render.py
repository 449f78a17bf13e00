"""The renderer: per-stem channel strips and a master bus on pedalboard, applied to whole buffers.

Signal flow (every stem, then the bus)::

    stem ─► HPF (2 x 1st order) ─► low shelf ─► peaking mid ─► high shelf ─► compressor ─► fader + pan ─┐
    stem ─► ...                                                                                         ├─► sum
                                                                                                        ┘
    sum ─► bus low shelf ─► bus high shelf ─► bus compressor ─► drive (or LUFS target) ─► brick-wall limiter

Mono stems are processed in mono (half the work) and become stereo at the pan stage; stereo stems are
balanced (each channel keeps its side). The pan law is constant-power with unity at centre: hard left gives
+3 dB on the left and silence on the right, so the neutral preset leaves a stereo stem untouched.

A :class:`Renderer` prebuilds one ``Pedalboard`` per stem role plus the bus and reuses them across calls,
only updating parameters; each call resets their state, so a render depends on its inputs alone.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace

import numpy as np
import pedalboard

from mixenv.loudness import SILENCE_LUFS, integrated_lufs
from mixenv.params import ROLES, MixSettings

MIN_SAMPLE_RATE = 16_000
"""Below this the EQ's highest corner (6 kHz) would not fit under Nyquist."""

LOW_SHELF_HZ = 150.0
HIGH_SHELF_HZ = 5_000.0
SHELF_Q = 1 / math.sqrt(2)
MID_Q = 1.0
MASTER_LOW_SHELF_HZ = 100.0
MASTER_HIGH_SHELF_HZ = 6_000.0

HPF_STAGE_FACTOR = math.sqrt(math.sqrt(2.0) - 1.0)
"""Two first-order high-passes at ``hpf_hz * factor`` put the cascade's -3 dB point exactly at ``hpf_hz``."""

ROLE_DYNAMICS_MS: Mapping[str, tuple[float, float]] = {
    "vocals": (5.0, 80.0),
    "drums": (10.0, 100.0),
    "bass": (15.0, 150.0),
    "other": (20.0, 150.0),
}
"""Compressor (attack, release) per role: fixed, since the corpus prior and most engineers use such defaults."""
DEFAULT_DYNAMICS_MS = (10.0, 100.0)
MASTER_DYNAMICS_MS = (30.0, 250.0)
LIMITER_RELEASE_MS = 100.0
DEFAULT_CEILING_DB = -1.0
MAX_NORMALIZATION_GAIN_DB = 40.0
"""A LUFS target never raises a mix by more than this: beyond it we would only be amplifying noise."""
LOUDNESS_TOLERANCE_LU = 0.1


@dataclass(frozen=True)
class MixRender:
    """The result of one render.

    Attributes:
        mix: Stereo mix, ``(2, samples)`` float32, finite.
        bus_overs: Samples (per channel) of the summed bus, after the bus compressor, above 0 dBFS: what would
            have clipped without the limiter. Tells how hard the gain staging pushes.
        clipped_samples: Output samples with ``|x| > 1``; stays 0 while the ceiling is at or below 0 dBFS.
        nonfinite_samples: NaN/inf values that processing produced and that were replaced by 0 (expected 0).
        limiter_reduction_db: Largest gain reduction the limiter applied, in dB (0 if it never acted).
        stems: The processed, panned stems ``(2, samples)`` by role, if asked for (else empty).
    """

    mix: np.ndarray
    bus_overs: int
    clipped_samples: int
    nonfinite_samples: int
    limiter_reduction_db: float
    stems: Mapping[str, np.ndarray] = field(default_factory=dict)


class Renderer:
    """Channel strips for a fixed set of roles and a master bus at one sample rate, built once, reused.

    Args:
        sample_rate: Sample rate of every stem given to :meth:`render`, in Hz.
        roles: The roles it can render; a render may use any subset of them.
        target_lufs: If set, the master is normalised to this integrated loudness before the limiter's ceiling
            (mastering); the limiter-threshold control then has no effect. ``None`` leaves levels to the settings.
        ceiling_db: The limiter's output ceiling in dBFS.

    Not thread-safe: give each thread or process its own renderer (they are cheap to build).
    """

    def __init__(
        self,
        sample_rate: int,
        roles: Sequence[str] = ROLES,
        *,
        target_lufs: float | None = None,
        ceiling_db: float = DEFAULT_CEILING_DB,
    ) -> None:
        if int(sample_rate) != sample_rate or sample_rate < MIN_SAMPLE_RATE:
            raise ValueError(f"sample_rate must be an integer >= {MIN_SAMPLE_RATE} Hz, got {sample_rate}")
        if not -20.0 <= ceiling_db <= 0.0:
            raise ValueError(f"ceiling_db must be in [-20, 0] dBFS, got {ceiling_db}")
        if target_lufs is not None and not -60.0 <= target_lufs <= 0.0:
            raise ValueError(f"target_lufs must be in [-60, 0] LUFS or None, got {target_lufs}")
        self.sample_rate = int(sample_rate)
        self.roles = tuple(roles)
        self.target_lufs = target_lufs
        self.ceiling_db = ceiling_db
        self._strips = {role: _strip_board(role) for role in self.roles}
        self._bus = pedalboard.Pedalboard(
            [
                pedalboard.LowShelfFilter(cutoff_frequency_hz=MASTER_LOW_SHELF_HZ, gain_db=0.0, q=SHELF_Q),
                pedalboard.HighShelfFilter(cutoff_frequency_hz=MASTER_HIGH_SHELF_HZ, gain_db=0.0, q=SHELF_Q),
                pedalboard.Compressor(
                    threshold_db=0.0, ratio=1.0, attack_ms=MASTER_DYNAMICS_MS[0], release_ms=MASTER_DYNAMICS_MS[1]
                ),
            ]
        )
        self._limiter = pedalboard.BrickwallLimiter(ceiling_db=ceiling_db, release_ms=LIMITER_RELEASE_MS)

    def render(
        self, stems: Mapping[str, np.ndarray], settings: MixSettings, *, return_stems: bool = False
    ) -> MixRender:
        """Mix ``stems`` (role -> ``(channels, samples)`` float32, 1 or 2 channels, equal lengths) under ``settings``.

        Equivalent to :meth:`master` applied to the sum of :meth:`process_stems`.

        Raises:
            ValueError: For an empty stem dict, a role this renderer or the settings lack, or mismatched shapes.
        """
        processed = self.process_stems(stems, settings)
        bus = np.zeros_like(next(iter(processed.values())))
        for stem in processed.values():
            bus += stem
        result = self.master(bus, settings)
        return replace(result, stems=processed) if return_stems else result

    def process_stems(self, stems: Mapping[str, np.ndarray], settings: MixSettings) -> dict[str, np.ndarray]:
        """Each stem through its channel strip, fader and pan: role -> ``(2, samples)`` float32."""
        self._check_stems(stems, settings)
        return {role: self._strip(role, audio, settings.stem(role)) for role, audio in stems.items()}

    def master(self, bus: np.ndarray, settings: MixSettings) -> MixRender:
        """The master bus applied to a summed stereo ``bus`` ``(2, samples)``."""
        out, overs, reduction_db = self._master(np.ascontiguousarray(bus, dtype=np.float32), settings.master)
        nonfinite = int(np.count_nonzero(~np.isfinite(out)))
        if nonfinite:
            out = np.nan_to_num(out, nan=0.0, posinf=0.0, neginf=0.0)
        return MixRender(
            mix=out,
            bus_overs=overs,
            clipped_samples=int(np.count_nonzero(np.abs(out) > 1.0)),
            nonfinite_samples=nonfinite,
            limiter_reduction_db=reduction_db,
        )

    def _check_stems(self, stems: Mapping[str, np.ndarray], settings: MixSettings) -> None:
        if not stems:
            raise ValueError("render needs at least one stem")
        lengths = set()
        for role, audio in stems.items():
            if role not in self._strips:
                raise ValueError(f"stem role {role!r} has no channel strip; this renderer has {', '.join(self.roles)}")
            if role not in settings.space.roles:
                raise ValueError(f"settings have no slot for stem role {role!r}; they cover {settings.space.roles}")
            if audio.ndim != 2 or audio.shape[0] not in (1, 2):
                raise ValueError(f"stem {role!r} must be shaped (1 or 2 channels, samples), got {audio.shape}")
            lengths.add(audio.shape[1])
        if len(lengths) != 1:
            raise ValueError(f"stems must have equal lengths, got {sorted(lengths)} samples; align them first")

    def _strip(self, role: str, audio: np.ndarray, s: Mapping[str, float]) -> np.ndarray:
        hpf1, hpf2, low, mid, high, comp = self._strips[role]
        hpf1.cutoff_frequency_hz = hpf2.cutoff_frequency_hz = s["hpf_hz"] * HPF_STAGE_FACTOR
        low.gain_db = s["low_shelf_db"]
        mid.cutoff_frequency_hz = s["mid_freq_hz"]
        mid.gain_db = s["mid_db"]
        high.gain_db = s["high_shelf_db"]
        comp.threshold_db = s["comp_threshold_db"]
        comp.ratio = s["comp_ratio"]
        y = self._strips[role](np.ascontiguousarray(audio, dtype=np.float32), self.sample_rate)
        left, right = pan_gains(s["pan"], s["gain_db"])
        out = np.empty((2, y.shape[1]), dtype=np.float32)
        np.multiply(y[0], left, out=out[0])
        np.multiply(y[-1], right, out=out[1])
        return out

    def _master(self, mix: np.ndarray, m: Mapping[str, float]) -> tuple[np.ndarray, int, float]:
        low, high, comp = self._bus
        low.gain_db = m["master_low_shelf_db"]
        high.gain_db = m["master_high_shelf_db"]
        comp.threshold_db = m["master_comp_threshold_db"]
        comp.ratio = m["master_comp_ratio"]
        bus = self._bus(mix, self.sample_rate)
        overs = int(np.count_nonzero(np.abs(bus) > 1.0))
        if self.target_lufs is None:
            drive_db = -m["master_limiter_db"]
            out = self._limit(bus, drive_db)
        else:
            out, drive_db = self._normalize(bus, self.target_lufs)
        driven_peak = float(np.max(np.abs(bus), initial=0.0)) * 10 ** (drive_db / 20)
        out_peak = float(np.max(np.abs(out), initial=0.0))
        reduction_db = 20 * math.log10(driven_peak / out_peak) if out_peak > 0 and driven_peak > out_peak else 0.0
        return out, overs, reduction_db

    def _limit(self, bus: np.ndarray, drive_db: float) -> np.ndarray:
        return self._limiter((bus * np.float32(10 ** (drive_db / 20))).astype(np.float32), self.sample_rate)

    def _normalize(self, bus: np.ndarray, target_lufs: float) -> tuple[np.ndarray, float]:
        """Find the drive that puts the limited output at ``target_lufs`` (the limiter costs a little loudness)."""
        loudness = integrated_lufs(bus, self.sample_rate)
        if loudness <= SILENCE_LUFS:
            return self._limit(bus, 0.0), 0.0
        drive_db = min(target_lufs - loudness, MAX_NORMALIZATION_GAIN_DB)
        out = self._limit(bus, drive_db)
        for _ in range(3):
            error = target_lufs - integrated_lufs(out, self.sample_rate)
            if abs(error) <= LOUDNESS_TOLERANCE_LU or drive_db >= MAX_NORMALIZATION_GAIN_DB:
                break
            drive_db = min(drive_db + error, MAX_NORMALIZATION_GAIN_DB)
            out = self._limit(bus, drive_db)
        return out, drive_db


def pan_gains(pan: float, gain_db: float = 0.0) -> tuple[float, float]:
    """Left and right gains for a pan position in [-1, 1]: constant power, unity at centre, times the fader."""
    theta = (min(max(pan, -1.0), 1.0) + 1.0) * math.pi / 4
    fader = math.sqrt(2.0) * 10 ** (gain_db / 20)
    return fader * math.cos(theta), fader * math.sin(theta)


def render(
    stems: Mapping[str, np.ndarray],
    settings: MixSettings,
    sample_rate: int,
    *,
    target_lufs: float | None = None,
    ceiling_db: float = DEFAULT_CEILING_DB,
) -> MixRender:
    """Render once with a fresh :class:`Renderer` (building one costs microseconds; reuse it in loops anyway)."""
    renderer = Renderer(sample_rate, tuple(stems), target_lufs=target_lufs, ceiling_db=ceiling_db)
    return renderer.render(stems, settings)


def _strip_board(role: str) -> pedalboard.Pedalboard:
    attack_ms, release_ms = ROLE_DYNAMICS_MS.get(role, DEFAULT_DYNAMICS_MS)
    hpf_hz = 20.0 * HPF_STAGE_FACTOR
    return pedalboard.Pedalboard(
        [
            pedalboard.HighpassFilter(cutoff_frequency_hz=hpf_hz),
            pedalboard.HighpassFilter(cutoff_frequency_hz=hpf_hz),
            pedalboard.LowShelfFilter(cutoff_frequency_hz=LOW_SHELF_HZ, gain_db=0.0, q=SHELF_Q),
            pedalboard.PeakFilter(cutoff_frequency_hz=1000.0, gain_db=0.0, q=MID_Q),
            pedalboard.HighShelfFilter(cutoff_frequency_hz=HIGH_SHELF_HZ, gain_db=0.0, q=SHELF_Q),
            pedalboard.Compressor(threshold_db=0.0, ratio=1.0, attack_ms=attack_ms, release_ms=release_ms),
        ]
    )
