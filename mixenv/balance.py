"""Rule-based mix decisions shared by the heuristics and ``mixenv mix``: a loudness balance of the roles, and the
bus tone matched to a reference's long-term spectrum (matchering-style).

Each returns settings and leaves the bus level to the caller, which lands it on a loudness with the mix's own
controls (:func:`mixenv.mastering.drive_to_loudness`) or with the renderer's mastering.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pedalboard
import scipy.signal

from mixenv.loudness import SILENCE_LUFS, integrated_lufs
from mixenv.params import MixSettings
from mixenv.render import MASTER_HIGH_SHELF_HZ, MASTER_LOW_SHELF_HZ, SHELF_Q

ROLE_LUFS: Mapping[str, float] = {"vocals": -20.0, "drums": -22.0, "bass": -22.0, "other": -24.0}
"""Loudness of each stem in a balanced mix: the lead on top, the rhythm section close, the rest under them."""
BUS_LUFS = -14.0
"""The streaming loudness norm a reference-free mix is mastered to."""
SHELF_LIMIT_DB = 12.0


def loudness_balance(settings: MixSettings, stems: Mapping[str, np.ndarray], sample_rate: int) -> MixSettings:
    """``settings`` with each audible stem's fader set to bring it to its :data:`ROLE_LUFS` loudness in the mix.

    A stem is measured as the renderer places it: a mono stem at centre plays at unity in both channels, 3 LU
    louder than the mono file measures.
    """
    gains = {}
    for role, stem in stems.items():
        level = integrated_lufs(np.broadcast_to(stem, (2, stem.shape[1])), sample_rate)
        if level > SILENCE_LUFS:
            gains[f"{role}.gain_db"] = ROLE_LUFS.get(role, -24.0) - level
    return settings.replace(gains)


def match_tone(settings: MixSettings, mix: np.ndarray, reference: np.ndarray, sample_rate: int) -> MixSettings:
    """``settings`` with the bus shelves fitted so that ``mix`` (rendered under ``settings``) takes on the long-term
    spectrum of ``reference``; the two may differ in length, or be different songs."""
    freqs, difference_db = spectrum_difference_db(mix, reference, sample_rate)
    low, high = fit_shelves(freqs, difference_db, sample_rate)
    return settings.replace({"master_low_shelf_db": low, "master_high_shelf_db": high})


def spectrum_difference_db(mix: np.ndarray, reference: np.ndarray, sample_rate: int) -> tuple[np.ndarray, np.ndarray]:
    """Reference minus mix, in dB, of the long-term (Welch) spectra on a third-octave grid from 40 Hz to 10 kHz."""
    centres, mix_db = long_term_spectrum_db(mix, sample_rate)
    _, reference_db = long_term_spectrum_db(reference, sample_rate)
    return centres, reference_db - mix_db


def long_term_spectrum_db(audio: np.ndarray, sample_rate: int) -> tuple[np.ndarray, np.ndarray]:
    """The long-term (Welch) power spectrum of ``audio``'s mid channel in third-octave bands from 40 Hz to 10 kHz
    (or to 0.45 of the rate): ``(band centres in Hz, power in dB)``."""
    freqs, power = scipy.signal.welch(np.asarray(audio).mean(axis=0), sample_rate, nperseg=4096)
    centres = 40.0 * 2 ** (np.arange(0, 28) / 3)
    centres = centres[centres < min(10_000.0, 0.45 * sample_rate)]
    bands = [(freqs >= c / 2 ** (1 / 6)) & (freqs < c * 2 ** (1 / 6)) for c in centres]
    return centres, np.array([10 * np.log10(power[band].sum() + 1e-20) for band in bands])


def fit_shelves(freqs: np.ndarray, difference_db: np.ndarray, sample_rate: int) -> tuple[float, float]:
    """Least-squares bus shelf gains (plus a free overall offset, left to the loudness match) for a dB difference,
    each within +-:data:`SHELF_LIMIT_DB`."""
    basis = np.stack(
        [
            np.ones_like(freqs),
            _shelf_response_db("low", freqs, sample_rate) / 6,
            _shelf_response_db("high", freqs, sample_rate) / 6,
        ],
        axis=1,
    )
    (_, low, high), *_ = np.linalg.lstsq(basis, difference_db, rcond=None)
    limit = SHELF_LIMIT_DB
    return float(np.clip(low, -limit, limit)), float(np.clip(high, -limit, limit))


def _shelf_response_db(kind: str, freqs: np.ndarray, sample_rate: int, gain_db: float = 6.0) -> np.ndarray:
    """Magnitude response (dB) of the bus shelf of ``kind`` at ``gain_db``, from the same biquad as the renderer."""
    plugin = (pedalboard.LowShelfFilter if kind == "low" else pedalboard.HighShelfFilter)(
        cutoff_frequency_hz=MASTER_LOW_SHELF_HZ if kind == "low" else MASTER_HIGH_SHELF_HZ, gain_db=gain_db, q=SHELF_Q
    )
    impulse = np.zeros((1, 8192), np.float32)
    impulse[0, 0] = 1.0
    response = np.abs(np.fft.rfft(plugin(impulse, sample_rate)[0]))
    grid = np.fft.rfftfreq(8192, 1 / sample_rate)
    return np.interp(freqs, grid, 20 * np.log10(np.maximum(response, 1e-9)))
