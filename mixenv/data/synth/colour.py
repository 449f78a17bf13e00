"""Raw-stem colouration: what a real recording does to a clean soundfont part before anyone mixes it.

Each stem gets a tracking level, a spectral tilt (a low and a high shelf at the channel strip's own corners), a
resonance (room boxiness, a harsh mic) at a random frequency, sometimes low rumble, and a noise floor. The
ground-truth prior (:mod:`mixenv.data.synth.prior`) sees these numbers, so a good mix partly undoes them, as an
engineer would: that makes the settings recoverable from the stems, which supervised models and agents need.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
import pedalboard

from mixenv.render import HIGH_SHELF_HZ, LOW_SHELF_HZ, SHELF_Q

RESONANCE_RANGE_HZ: dict[str, tuple[float, float]] = {
    "vocals": (250.0, 5000.0),
    "drums": (200.0, 1200.0),
    "bass": (200.0, 900.0),
    "other": (250.0, 3000.0),
}
RUMBLE_CHANCE: dict[str, float] = {"vocals": 0.6, "drums": 0.1, "bass": 0.0, "other": 0.4}
PEAK_RANGE_DBFS: dict[str, tuple[float, float]] = {
    "vocals": (-16.0, -4.0),
    "drums": (-12.0, -1.0),
    "bass": (-16.0, -3.0),
    "other": (-18.0, -4.0),
}
"""Tracking peak levels: drums are recorded hotter, since their peaks sit far above their loudness."""


@dataclass(frozen=True)
class Colouration:
    """The recording flaws of one raw stem (all levels in dB, frequencies in Hz)."""

    peak_dbfs: float
    low_shelf_db: float
    high_shelf_db: float
    resonance_hz: float
    resonance_db: float
    rumble_dbfs: float | None
    noise_dbfs: float

    def as_dict(self) -> dict[str, float | None]:
        """JSON-ready, rounded."""
        return {k: None if v is None else round(float(v), 3) for k, v in asdict(self).items()}


def sample_colouration(rng: np.random.Generator, role: str) -> Colouration:
    """Draw plausible recording flaws for a stem of ``role``."""
    low, high = RESONANCE_RANGE_HZ.get(role, (250.0, 3000.0))
    return Colouration(
        peak_dbfs=float(rng.uniform(*PEAK_RANGE_DBFS.get(role, (-18.0, -4.0)))),
        low_shelf_db=float(rng.normal(0.0, 3.0)),
        high_shelf_db=float(rng.normal(-1.0, 3.0)),
        resonance_hz=float(np.exp(rng.uniform(np.log(low), np.log(high)))),
        resonance_db=float(rng.uniform(0.0, 7.0)),
        rumble_dbfs=float(rng.uniform(-50.0, -35.0)) if rng.random() < RUMBLE_CHANCE.get(role, 0.0) else None,
        noise_dbfs=float(rng.uniform(-78.0, -60.0)),
    )


def apply_colouration(
    audio: np.ndarray, sample_rate: int, colouration: Colouration, rng: np.random.Generator
) -> np.ndarray:
    """Colour a clean ``(channels, samples)`` part; returns float32 of the same shape, peaking at ``peak_dbfs``."""
    c = colouration
    board = pedalboard.Pedalboard(
        [
            pedalboard.LowShelfFilter(cutoff_frequency_hz=LOW_SHELF_HZ, gain_db=c.low_shelf_db, q=SHELF_Q),
            pedalboard.HighShelfFilter(cutoff_frequency_hz=HIGH_SHELF_HZ, gain_db=c.high_shelf_db, q=SHELF_Q),
            pedalboard.PeakFilter(cutoff_frequency_hz=c.resonance_hz, gain_db=c.resonance_db, q=1.5),
        ]
    )
    y = board(np.ascontiguousarray(audio, dtype=np.float32), sample_rate).astype(np.float64)
    peak = float(np.max(np.abs(y)))
    if peak > 0:
        y *= 10 ** (c.peak_dbfs / 20) / peak
    n = y.shape[1]
    if c.rumble_dbfs is not None:
        t = np.arange(n) / sample_rate
        hum_hz = rng.choice([50.0, 60.0])
        y += 10 ** (c.rumble_dbfs / 20) * np.sin(2 * np.pi * hum_hz * t + rng.uniform(0, 2 * np.pi))
    y += 10 ** (c.noise_dbfs / 20) * _pink_noise(rng, y.shape)
    return np.clip(y, -1.0, 1.0).astype(np.float32)


def _pink_noise(rng: np.random.Generator, shape: tuple[int, int]) -> np.ndarray:
    """Unit-RMS noise with a 1/f power spectrum (shaped in the frequency domain)."""
    white = rng.standard_normal(shape)
    spectrum = np.fft.rfft(white, axis=-1)
    f = np.arange(spectrum.shape[-1], dtype=np.float64)
    f[0] = 1.0
    pink = np.fft.irfft(spectrum / np.sqrt(f), n=shape[1], axis=-1)
    return pink / max(float(np.sqrt(np.mean(pink**2))), 1e-12)
