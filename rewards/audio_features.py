"""The audio features the automatic-mixing literature compares a mix with its reference by (the automix-toolkit's
set, after Steinmetz et al. and Man & Reiss): spectral shape, stereo image and dynamics, each one number per mix,
and their errors against the reference as absolute percentage errors.

Features (of the mid channel unless said; spectral ones are averaged over 2048-sample Hann frames, hop 512):

* ``centroid`` (Hz), ``bandwidth`` (Hz, the spread around the centroid), ``rolloff`` (Hz under which 85% of the
  energy lies), ``flatness`` (geometric over arithmetic mean power, 0 for a tone, 1 for white noise),
  ``contrast`` (dB between the loudest and quietest fifth of the bins in each octave band, averaged);
* ``panning`` (the stereo panning spectrum of Avendano's similarity measure: the energy-weighted mean of each
  bin's absolute panning index, 0 for mono, 1 for hard-panned sources), over left and right;
* ``rms`` (dBFS), ``crest`` (dB, peak over RMS), ``dynamic_spread`` (dB, the standard deviation of the frames'
  RMS levels in dB, of frames above -60 dBFS).

:func:`feature_errors` gives each feature's absolute percentage error against the reference (dB features as the
ratio of their linear values, so a level error reads the same at any level), and their mean as
``feature_error``: 0 for identical mixes, growing as the mix moves away in any of these respects.
"""

from __future__ import annotations

import itertools

import numpy as np
import scipy.signal

FRAME, HOP = 2048, 512
ROLLOFF_SHARE = 0.85
CONTRAST_SHARE = 0.2
SILENT_FRAME_DBFS = -60.0
FEATURES = ("centroid", "bandwidth", "rolloff", "flatness", "contrast", "panning", "rms", "crest", "dynamic_spread")
DB_FEATURES = frozenset({"contrast", "rms", "crest", "dynamic_spread"})
"""Features in dB: their errors are taken on linear amplitude ratios (``10 ** (dB / 20)``)."""


def audio_features(audio: np.ndarray, sample_rate: int) -> dict[str, float]:
    """Every feature of :data:`FEATURES` of ``audio`` ``(1 or 2 channels, samples)``; a digitally silent signal
    reads 0 for every feature but ``rms`` (-200 dBFS)."""
    audio = np.asarray(audio, dtype=np.float64)
    if audio.ndim != 2 or audio.shape[0] not in (1, 2) or audio.shape[1] == 0:
        raise ValueError(f"expected audio shaped (1 or 2, samples), got {audio.shape}")
    if audio.shape[1] < FRAME:  # one frame, padded with silence
        audio = np.pad(audio, ((0, 0), (0, FRAME - audio.shape[1])))
    freqs, _, spec = scipy.signal.stft(audio, sample_rate, window="hann", nperseg=FRAME, noverlap=FRAME - HOP)
    magnitude = np.abs(spec.mean(axis=0))  # the mid channel's spectrum (stft is linear)
    power = magnitude**2
    frame_power = power.sum(axis=0)
    active = frame_power > frame_power.max(initial=0.0) * 1e-6
    if not active.any():
        return dict.fromkeys(FEATURES, 0.0) | {"rms": -200.0, "crest": 0.0}
    m, p = magnitude[:, active], power[:, active]
    weights = m / m.sum(axis=0)
    centroid = (freqs[:, None] * weights).sum(axis=0)
    bandwidth = np.sqrt((weights * (freqs[:, None] - centroid) ** 2).sum(axis=0))
    cumulative = np.cumsum(p, axis=0)
    rolloff = freqs[np.argmax(cumulative >= ROLLOFF_SHARE * cumulative[-1], axis=0)]
    flatness = np.exp(np.mean(np.log(p + 1e-20), axis=0)) / (np.mean(p, axis=0) + 1e-20)
    mid = audio.mean(axis=0)
    frames = np.lib.stride_tricks.sliding_window_view(mid, FRAME)[::HOP]
    frame_db = 10 * np.log10(np.mean(frames**2, axis=1) + 1e-20)
    loud = frame_db[frame_db > SILENT_FRAME_DBFS]
    rms = float(np.sqrt(np.mean(mid**2)))
    return {
        "centroid": float(np.mean(centroid)),
        "bandwidth": float(np.mean(bandwidth)),
        "rolloff": float(np.mean(rolloff)),
        "flatness": float(np.mean(flatness)),
        "contrast": _contrast(freqs, p),
        "panning": _panning(spec) if audio.shape[0] == 2 else 0.0,
        "rms": 20 * np.log10(max(rms, 1e-10)),
        "crest": 20 * np.log10(max(float(np.max(np.abs(mid))), 1e-10) / max(rms, 1e-10)),
        "dynamic_spread": float(np.std(loud)) if loud.size > 1 else 0.0,
    }


def feature_errors(mix: np.ndarray, reference: np.ndarray, sample_rate: int) -> dict[str, float]:
    """Each feature's absolute percentage error of ``mix`` against ``reference`` (as a fraction: 0.1 is 10%), and
    their mean as ``feature_error``. A feature the reference has at 0 is compared in absolute terms."""
    ours, theirs = audio_features(mix, sample_rate), audio_features(reference, sample_rate)
    errors = {}
    for name in FEATURES:
        a, b = ours[name], theirs[name]
        if name in DB_FEATURES:
            a, b = 10 ** (a / 20), 10 ** (b / 20)
        errors[name] = abs(a - b) / abs(b) if b != 0 else abs(a - b)
    return errors | {"feature_error": float(np.mean(list(errors.values())))}


def _contrast(freqs: np.ndarray, power: np.ndarray) -> float:
    """Mean over octave bands (from 200 Hz) of the dB gap between the band's loudest and quietest bins."""
    edges = 200.0 * 2.0 ** np.arange(0, 8)
    gaps = []
    for low, high in itertools.pairwise(edges):
        band = power[(freqs >= low) & (freqs < high)]
        if band.shape[0] < 5:
            continue
        ordered = np.sort(band, axis=0)
        k = max(1, round(CONTRAST_SHARE * band.shape[0]))
        peak, valley = ordered[-k:].mean(axis=0), ordered[:k].mean(axis=0)
        gaps.append(np.mean(10 * np.log10((peak + 1e-20) / (valley + 1e-20))))
    return float(np.mean(gaps)) if gaps else 0.0


def _panning(spec: np.ndarray) -> float:
    """Energy-weighted mean absolute panning index of a stereo STFT (Avendano 2003): per bin, one minus the
    left-right similarity ``2|L R*| / (|L|^2 + |R|^2)``; a centred source reads 0, one in one channel only 1."""
    left, right = spec[0], spec[1]
    energy = np.abs(left) ** 2 + np.abs(right) ** 2
    similarity = 2 * np.abs(left * np.conj(right)) / (energy + 1e-20)
    index = 1.0 - similarity
    total = energy.sum()
    return float((index * energy).sum() / total) if total > 0 else 0.0
