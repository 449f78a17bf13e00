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
    levels = {role: integrated_lufs(as_played(stem), sample_rate) for role, stem in stems.items()}
    return balance_levels(settings, levels)


def as_played(stem: np.ndarray) -> np.ndarray:
    """A stem as the neutral strip plays it in the mix: a mono one in both channels."""
    return np.broadcast_to(stem, (2, stem.shape[1]))


def balance_levels(settings: MixSettings, levels: Mapping[str, float]) -> MixSettings:
    """:func:`loudness_balance` from each stem's measured loudness (as played, LUFS): a silent stem keeps its fader."""
    gains = {
        f"{role}.gain_db": ROLE_LUFS.get(role, -24.0) - level for role, level in levels.items() if level > SILENCE_LUFS
    }
    return settings.replace(gains)


def match_tone(settings: MixSettings, mix: np.ndarray, reference: np.ndarray, sample_rate: int) -> MixSettings:
    """``settings`` with the bus shelves fitted so that ``mix`` (rendered under ``settings``) takes on the long-term
    spectrum of ``reference``; the two may differ in length, or be different songs."""
    centres, mix_db = long_term_spectrum_db(mix, sample_rate)
    _, reference_db = long_term_spectrum_db(reference, sample_rate)
    return match_spectra(settings, centres, reference_db - mix_db, sample_rate)


def match_spectra(
    settings: MixSettings, centres: np.ndarray, difference_db: np.ndarray, sample_rate: int
) -> MixSettings:
    """:func:`match_tone` from the reference-minus-mix long-term spectrum difference (dB) at band ``centres``."""
    low, high = fit_shelves(centres, difference_db, sample_rate)
    return settings.replace({"master_low_shelf_db": low, "master_high_shelf_db": high})


def long_term_spectrum_db(audio: np.ndarray, sample_rate: int) -> tuple[np.ndarray, np.ndarray]:
    """The long-term (Welch) power spectrum of ``audio``'s mid channel in third-octave bands from 40 Hz to 10 kHz
    (or to 0.45 of the rate): ``(band centres in Hz, power in dB)``."""
    return SpectrumMeter(sample_rate).add(audio).bands()


class SpectrumMeter:
    """:func:`long_term_spectrum_db` of a signal fed in blocks: Welch's average (4096-sample Hann segments, half
    overlapping) kept as a running sum of the segments' periodograms, so a whole song needs no more than a block."""

    SEGMENT = 4096

    def __init__(self, sample_rate: int) -> None:
        self.sample_rate = sample_rate
        self._pending = np.zeros(0)
        self._sum: np.ndarray | None = None
        self._segments = 0

    def add(self, audio: np.ndarray) -> SpectrumMeter:
        """Feed the next ``(channels, samples)`` block; returns the meter."""
        self._pending = np.concatenate([self._pending, np.asarray(audio, dtype=np.float64).mean(axis=0)])
        hop = self.SEGMENT // 2
        if self._pending.size >= self.SEGMENT:
            count = 1 + (self._pending.size - self.SEGMENT) // hop
            head = self._pending[: self.SEGMENT + hop * (count - 1)]
            _, power = scipy.signal.welch(head, self.sample_rate, nperseg=self.SEGMENT)
            self._sum = power * count if self._sum is None else self._sum + power * count
            self._segments += count
            self._pending = self._pending[hop * count :]
        return self

    def bands(self) -> tuple[np.ndarray, np.ndarray]:
        """``(band centres in Hz, power in dB)`` of everything fed so far (a signal shorter than one segment is
        one segment of its length, as :func:`scipy.signal.welch` takes it)."""
        if self._sum is None:
            freqs, power = scipy.signal.welch(self._pending, self.sample_rate, nperseg=max(1, self._pending.size))
        else:
            freqs, power = np.fft.rfftfreq(self.SEGMENT, 1 / self.sample_rate), self._sum / self._segments
        centres = 40.0 * 2 ** (np.arange(0, 28) / 3)
        centres = centres[centres < min(10_000.0, 0.45 * self.sample_rate)]
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
