"""Integrated and short-term loudness (ITU-R BS.1770-4) and simple level measures, with silence handled.

One place for loudness so the renderer's normalisation, the loudness reward and the metrics agree exactly.
The K-weighting filters are pyloudnorm's, and the gating follows pyloudnorm's arithmetic block for block, but
the block energies come from one pass over the signal instead of a Python loop over 400 ms blocks: the same values
(a test holds them to pyloudnorm within 1e-6 LU), about ten times faster on a 30 s mix, which matters when every
env step and every LUFS-target render measures loudness.
"""

from __future__ import annotations

import functools

import numpy as np
import pyloudnorm
import scipy.signal

SILENCE_LUFS = -70.0
"""What the loudness of a silent (or gated-out) signal reads as: BS.1770's absolute gate, instead of -inf."""

_BLOCK_SECONDS = 0.4
_STEP = 0.25  # 75% overlap between gating blocks


@functools.lru_cache(maxsize=16)
def _k_weighting(sample_rate: int) -> np.ndarray:
    """pyloudnorm's K-weighting (high shelf, then high pass) as second-order sections."""
    meter = pyloudnorm.Meter(sample_rate)
    stages = [meter._filters["high_shelf"], meter._filters["high_pass"]]
    sections = [np.concatenate([stage.passband_gain * stage.b, stage.a]) for stage in stages]
    return np.array(sections)


def integrated_lufs(audio: np.ndarray, sample_rate: int) -> float:
    """Integrated loudness of ``audio`` shaped ``(channels, samples)`` (1 or 2 channels), in LUFS.

    Never below :data:`SILENCE_LUFS`. BS.1770 needs at least one 400 ms gating block; shorter signals are
    measured as if looped to 400 ms.
    """
    audio = np.asarray(audio, dtype=np.float64)
    if audio.ndim != 2:
        raise ValueError(f"expected audio shaped (channels, samples), got shape {audio.shape}")
    if audio.shape[1] == 0 or not np.any(audio):
        return SILENCE_LUFS
    block = _BLOCK_SECONDS * sample_rate
    min_samples = int(np.ceil(block)) + 1
    if audio.shape[1] < min_samples:
        audio = np.tile(audio, (1, int(np.ceil(min_samples / audio.shape[1]))))
    weighted = scipy.signal.sosfilt(_k_weighting(sample_rate), audio, axis=1)
    seconds = audio.shape[1] / sample_rate
    count = int(np.round((seconds - _BLOCK_SECONDS) / (_BLOCK_SECONDS * _STEP))) + 1
    j = np.arange(count)
    lower = (_BLOCK_SECONDS * (j * _STEP) * sample_rate).astype(int)
    upper = np.minimum((_BLOCK_SECONDS * (j * _STEP + 1) * sample_rate).astype(int), audio.shape[1])
    # Energy between consecutive block edges in one pass, then each block as a difference of running sums.
    edges = np.unique(np.concatenate([lower, upper]))
    segments = np.add.reduceat(weighted[:, : edges[-1]] ** 2, edges[:-1], axis=1)
    running = np.concatenate([np.zeros((audio.shape[0], 1)), np.cumsum(segments, axis=1)], axis=1)
    z = (running[:, np.searchsorted(edges, upper)] - running[:, np.searchsorted(edges, lower)]) / block  # eq. 1
    power = z.sum(axis=0)  # channel gains are 1 for left and right
    with np.errstate(divide="ignore"):
        block_lufs = -0.691 + 10.0 * np.log10(power)
        above_absolute = block_lufs >= SILENCE_LUFS
        if not above_absolute.any():
            return SILENCE_LUFS
        relative_gate = -0.691 + 10.0 * np.log10(z[:, above_absolute].mean(axis=1).sum()) - 10.0
        gated = (block_lufs > relative_gate) & (block_lufs > SILENCE_LUFS)
        if not gated.any():
            return SILENCE_LUFS
        lufs = -0.691 + 10.0 * np.log10(z[:, gated].mean(axis=1).sum())
    return float(max(lufs, SILENCE_LUFS)) if np.isfinite(lufs) else SILENCE_LUFS


def short_term_lufs(
    audio: np.ndarray, sample_rate: int, window_seconds: float = 3.0, hop_seconds: float = 1.0
) -> tuple[np.ndarray, np.ndarray]:
    """Short-term loudness over time (BS.1771's 3 s window, ungated): ``(times, lufs)``, each window's centre in
    seconds and its loudness, floored at :data:`SILENCE_LUFS`. A signal shorter than a window is one window."""
    audio = np.asarray(audio, dtype=np.float64)
    if audio.ndim != 2:
        raise ValueError(f"expected audio shaped (channels, samples), got shape {audio.shape}")
    window = min(round(window_seconds * sample_rate), audio.shape[1])
    hop = max(1, round(hop_seconds * sample_rate))
    if window == 0:
        return np.zeros(0), np.zeros(0)
    power = scipy.signal.sosfilt(_k_weighting(sample_rate), audio, axis=1) ** 2
    running = np.concatenate([np.zeros((audio.shape[0], 1)), np.cumsum(power, axis=1)], axis=1)
    starts = np.arange(0, audio.shape[1] - window + 1, hop)
    energy = ((running[:, starts + window] - running[:, starts]) / window).sum(axis=0)
    with np.errstate(divide="ignore"):
        lufs = np.maximum(-0.691 + 10.0 * np.log10(energy), SILENCE_LUFS)
    return (starts + window / 2) / sample_rate, lufs


def peak_dbfs(audio: np.ndarray) -> float:
    """Sample peak in dBFS (floored at -200 for digital silence)."""
    peak = float(np.max(np.abs(audio))) if audio.size else 0.0
    return 20.0 * np.log10(max(peak, 1e-10))


def rms_dbfs(audio: np.ndarray) -> float:
    """RMS level over all channels and samples, in dBFS (floored at -200)."""
    rms = float(np.sqrt(np.mean(np.square(audio, dtype=np.float64)))) if audio.size else 0.0
    return 20.0 * np.log10(max(rms, 1e-10))
