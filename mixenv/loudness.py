"""Integrated loudness (ITU-R BS.1770-4, via pyloudnorm) and simple level measures, with silence handled.

One place for loudness so the renderer's normalisation, the loudness reward and the metrics agree exactly.
"""

from __future__ import annotations

import functools

import numpy as np
import pyloudnorm

SILENCE_LUFS = -70.0
"""What the loudness of a silent (or gated-out) signal reads as: BS.1770's absolute gate, instead of -inf."""


@functools.lru_cache(maxsize=16)
def _meter(sample_rate: int) -> pyloudnorm.Meter:
    return pyloudnorm.Meter(sample_rate)


def integrated_lufs(audio: np.ndarray, sample_rate: int) -> float:
    """Integrated loudness of ``audio`` shaped ``(channels, samples)``, in LUFS; never below :data:`SILENCE_LUFS`.

    BS.1770 needs at least one 400 ms gating block; shorter signals are measured as if looped to 400 ms.
    """
    audio = np.asarray(audio, dtype=np.float64)
    if audio.ndim != 2:
        raise ValueError(f"expected audio shaped (channels, samples), got shape {audio.shape}")
    min_samples = int(np.ceil(0.4 * sample_rate)) + 1
    if audio.shape[1] == 0 or not np.any(audio):
        return SILENCE_LUFS
    if audio.shape[1] < min_samples:
        audio = np.tile(audio, (1, int(np.ceil(min_samples / audio.shape[1]))))
    lufs = _meter(sample_rate).integrated_loudness(audio.T)
    return float(max(lufs, SILENCE_LUFS)) if np.isfinite(lufs) else SILENCE_LUFS


def peak_dbfs(audio: np.ndarray) -> float:
    """Sample peak in dBFS (floored at -200 for digital silence)."""
    peak = float(np.max(np.abs(audio))) if audio.size else 0.0
    return 20.0 * np.log10(max(peak, 1e-10))


def rms_dbfs(audio: np.ndarray) -> float:
    """RMS level over all channels and samples, in dBFS (floored at -200)."""
    rms = float(np.sqrt(np.mean(np.square(audio, dtype=np.float64)))) if audio.size else 0.0
    return 20.0 * np.log10(max(rms, 1e-10))
