"""How the evaluation sets' stems are recorded: a room, a microphone's tilt and band limit, a level, a noise floor.

Another process than the training corpus's colouration (:mod:`mixenv.data.synth.colour`): a reverberant room
(pedalboard's ``Reverb``, which the training corpus never uses), shelves at other corners (250 Hz and 3 kHz against
the channel strip's 150 Hz and 5 kHz), sometimes a microphone's band limit, a tracking level and white noise.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
import pedalboard

TILT_CORNERS_HZ = (250.0, 3000.0)
PEAK_RANGE_DBFS: dict[str, tuple[float, float]] = {
    "vocals": (-14.0, -5.0),
    "drums": (-10.0, -2.0),
    "bass": (-15.0, -5.0),
    "other": (-16.0, -6.0),
}


@dataclass(frozen=True)
class Recording:
    """How one stem was recorded (levels in dB, frequencies in Hz; room size and wet level in [0, 1])."""

    room_size: float
    wet_level: float
    low_tilt_db: float
    high_tilt_db: float
    band_limit_hz: float | None
    peak_dbfs: float
    noise_dbfs: float

    def as_dict(self) -> dict[str, float | None]:
        """JSON-ready, rounded."""
        return {k: None if v is None else round(float(v), 3) for k, v in asdict(self).items()}


def sample_recording(rng: np.random.Generator, role: str) -> Recording:
    """Draw how a stem of ``role`` was recorded: drums and bass dry and close, the rest in more room."""
    close = role in ("drums", "bass")
    return Recording(
        room_size=float(rng.uniform(0.05, 0.3) if close else rng.uniform(0.2, 0.6)),
        wet_level=float(rng.uniform(0.02, 0.1) if close else rng.uniform(0.08, 0.3)),
        low_tilt_db=float(rng.normal(0.0, 3.0)),
        high_tilt_db=float(rng.normal(-1.5, 3.0)),
        band_limit_hz=float(rng.uniform(7_000.0, 14_000.0)) if rng.random() < 0.3 else None,
        peak_dbfs=float(rng.uniform(*PEAK_RANGE_DBFS.get(role, (-16.0, -6.0)))),
        noise_dbfs=float(rng.uniform(-80.0, -62.0)),
    )


def record(audio: np.ndarray, sample_rate: int, recording: Recording, rng: np.random.Generator) -> np.ndarray:
    """A clean ``(channels, samples)`` part as recorded: float32 of the same shape, peaking at ``peak_dbfs``."""
    r = recording
    plugins: list[pedalboard.Plugin] = [
        pedalboard.Reverb(room_size=r.room_size, wet_level=r.wet_level, dry_level=1.0, width=0.8),
        pedalboard.LowShelfFilter(cutoff_frequency_hz=TILT_CORNERS_HZ[0], gain_db=r.low_tilt_db, q=0.7),
        pedalboard.HighShelfFilter(cutoff_frequency_hz=TILT_CORNERS_HZ[1], gain_db=r.high_tilt_db, q=0.7),
    ]
    if r.band_limit_hz is not None:
        plugins.append(pedalboard.LowpassFilter(cutoff_frequency_hz=min(r.band_limit_hz, 0.45 * sample_rate)))
    y = pedalboard.Pedalboard(plugins)(np.ascontiguousarray(audio, dtype=np.float32), sample_rate)
    y = y.astype(np.float64)[:, : audio.shape[1]]
    peak = float(np.max(np.abs(y)))
    if peak > 0:
        y *= 10 ** (r.peak_dbfs / 20) / peak
    y += 10 ** (r.noise_dbfs / 20) * rng.standard_normal(y.shape)
    return np.clip(y, -1.0, 1.0).astype(np.float32)
