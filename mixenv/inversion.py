"""How each stem sounds in a reference mix of it: its complex gain per channel and frequency, by least squares.

A strip's EQ, fader and pan are linear, so a reference made of known stems is, bin by bin and frame by frame of a
short-time Fourier transform, a weighted sum of those stems as the current settings place them::

    R_c(f, t) ≈ g(t) · Σ_i a_ic(f) · P_ic(f, t)

One small complex system per bin and channel gives each stem's gain ``a_ic(f)``: how its level, tone and pan in
the reference differ from the current settings'. The frames tell the stems apart by their phase as well as their
level, so voices of one timbre in one range, which band energies cannot separate (each stem's power is then
any share of the total), are told apart too. ``g(t)`` is the bus's gain over time (its compressor and limiter),
the same for every stem, fitted in turn with ``a``. The stems' compressors and the bus's nonlinearity make it an
approximation; where stems carry the same signal in a bin, :data:`RIDGE` pulls their gains toward the channel's
common one, so neither takes a tone the reference does not show.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass

import numpy as np
import scipy.signal

WINDOW_SECONDS = 0.093
"""The STFT's window: long enough that a strip's filters act as a gain per bin (2 048 samples at 22.05 kHz)."""
RIDGE = 0.05
"""Pull of each stem's gain toward the channel's common gain (the one gain over every bin that best scales the
stems' sum to the reference: its level, not its tone), in units of the geometric mean of the stem's own energy in
the bin and the stems' mean energy there. In units of the mean alone, as until 2026-12-07, a stem quiet in a bin
was held at the common gain there however clearly the reference showed it: a folk vocal's presence lift, 4-6 dB
at 1.7-3.6 kHz under the fiddle and guitar, read 0.5 to -2.2 dB (in units of its own energy alone, within 0.6 dB);
in units of its own energy alone a stem barely there takes whatever of the reference nothing else explains. Chosen
on validation songs (the corpus's validation split, chorales and folk of seed 12, the first 12 songs each, 4 s
clips; the shipped model's prediction with each stem's tone, fader, pan and compressor read, then the loudness;
MRSTFT / the neutral mix's; with :func:`mixenv.balance.match_stem_tone`'s bands weighed by the high-pass too):
0.0789 / 0.0692 / 0.1117 against 0.0894 / 0.0738 / 0.1267 before either change, 26 songs of 36 better (paired
log-ratio t = -2.7); without the high-pass's weights 0.0792 / 0.0764 / 0.1173. In units of the mean, a strength of
0.01 read 0.0817 / 0.0794 / 0.1139; in units of the stem's own energy alone, 0.0779 / 0.0817 / 0.1258. Toward
each bin's own common gain, as at first, a stem the others drown in a bin took their tone there. Earlier choices
of the strength (in units of the mean, 2026-12-03; mean MRSTFT on the corpus's validation split, 24 songs /
chorales / folk of seed 12, 8 songs each): 0.179 / 0.161 / 0.263 at 0.002, 0.181 / 0.162 / 0.258 at 0.01, 0.185 /
0.163 / 0.253 at 0.05 (one round, no pans: 0.231 / 0.255 / 0.319 at 0.2). It costs exactness where stems differ:
on mixes of known faders, a fraction of a decibel of error on average against none without it (a test holds
both)."""
GAIN_ROUNDS = 2
"""Rounds of fitting the stems' gains, then the bus's gain over time, in turn."""
AUDIBLE_RANGE_DB = 40.0
"""How far below a bin's loudest frame the fitted mix may lie and still count in :attr:`StemResponse.presence`:
quieter cells are silence, whose shares are noise. Chosen on validation songs (see
:func:`mixenv.balance.match_stem_tone`): every cell above the STFT's floor 0.0905 / 0.1411 (chorales / folk of
seed 12), 40 dB 0.0847 / 0.1367, weighing by presence alone."""


@dataclass(frozen=True)
class StemResponse:
    """Each stem's complex gain in a reference relative to the stems it was fitted on (:func:`stem_response`).

    Attributes:
        roles: The stems, in the order of the arrays' first axis.
        gains: ``a``, ``(stems, 2, bins)`` complex: the reference's channel ``c`` at bin ``f`` holds stem ``i``
            times ``gains[i, c, f]``.
        energy: ``(stems, 2, bins)``: each stem's energy per channel and bin as fitted (the bus's gain over time
            applied), which weighs each bin's gain when they are summed.
        freqs: ``(bins,)``: the bins' frequencies in Hz.
        presence: ``(stems, bins)``: each stem's share of the fitted mix's power, averaged over the frames and
            channels where the bin is heard (within :data:`AUDIBLE_RANGE_DB` of its loudest frame): how much of
            the time the stem is what one hears there, however loud. A stem the others drown in energy but which
            plays alone between their hits has little of the bin's energy and much of its presence.
    """

    roles: tuple[str, ...]
    gains: np.ndarray
    energy: np.ndarray
    freqs: np.ndarray
    presence: np.ndarray

    def held(self) -> np.ndarray:
        """``(stems, 2, bins)``: each stem's energy per channel and bin in the reference."""
        return np.abs(self.gains) ** 2 * self.energy

    def power_ratios(self) -> np.ndarray:
        """``(stems,)``: each stem's power in the reference over its power as fitted (1: as loud as it is now)."""
        return self.held().sum(axis=(1, 2)) / (self.energy.sum(axis=(1, 2)) + 1e-30)

    def channel_ratios(self) -> np.ndarray:
        """``(stems, 2)``: :meth:`power_ratios` per channel (left, right): where each stem sits between them."""
        return self.held().sum(axis=2) / (self.energy.sum(axis=2) + 1e-30)

    def band_ratios(self, edges_hz: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Per band between ``edges_hz`` and stem: its power ratio there ``(bands, stems)``, and its energy there in
        the reference ``(bands, stems)``."""
        bounds = self._bins(edges_hz)
        held, energy = self.held().sum(axis=1), self.energy.sum(axis=1)
        held_bands = np.stack([held[:, lo:hi].sum(axis=1) for lo, hi in bounds])
        fitted = np.stack([energy[:, lo:hi].sum(axis=1) for lo, hi in bounds])
        return held_bands / (fitted + 1e-30), held_bands

    def band_presence(self, edges_hz: np.ndarray) -> np.ndarray:
        """``(bands, stems)``: :attr:`presence` averaged over the bins of each band between ``edges_hz`` (0 for a
        band without bins)."""
        bounds = self._bins(edges_hz)
        return np.stack(
            [self.presence[:, lo:hi].mean(axis=1) if hi > lo else np.zeros(len(self.roles)) for lo, hi in bounds]
        )

    def _bins(self, edges_hz: np.ndarray) -> list[tuple[int, int]]:
        """Each band between ``edges_hz`` as its bins' slice bounds (start, stop)."""
        return list(itertools.pairwise(np.searchsorted(self.freqs, edges_hz).tolist()))


def stem_response(placed: Mapping[str, np.ndarray], reference: np.ndarray, sample_rate: int) -> StemResponse:
    """How each of ``placed`` sounds in ``reference``: :class:`StemResponse`.

    Args:
        placed: The stems as the current settings play them in the mix (after strip, fader and pan, ``(2, samples)``
            each, the reference's length: :meth:`~mixenv.render.Renderer.render` with ``return_stems``).
        reference: The mix to explain, ``(2, samples)``.
        sample_rate: Of both.
    """
    roles = tuple(placed)
    stems, target = _stem_spectra(placed, sample_rate), _stft(reference, sample_rate)
    gains, bus = _fit(stems, target)
    energy = (np.abs(stems) ** 2 * bus**2).sum(axis=-1)  # (2, bins, stems)
    freqs = np.fft.rfftfreq(_n_fft(sample_rate), 1 / sample_rate)
    presence = _presence(gains, stems, bus)
    return StemResponse(roles, np.moveaxis(gains, 2, 0), np.moveaxis(energy, 2, 0), freqs, presence)


def _presence(gains: np.ndarray, stems: np.ndarray, bus: np.ndarray) -> np.ndarray:
    """:attr:`StemResponse.presence` ``(stems, bins)`` of ``stems`` ``(2, bins, stems, frames)`` under ``gains``
    ``(2, bins, stems)`` and the bus's gain over time ``bus`` ``(frames,)``. Each stem's power is made twice, one
    stem at a time, rather than kept: a whole song's cells for every stem would add half the stems' spectra again."""

    def power(i: int) -> np.ndarray:
        return np.abs(stems[:, :, i] * gains[:, :, i, None]) ** 2

    count = stems.shape[2]
    total = sum(power(i) for i in range(count))
    level = total * bus**2
    heard = level > level.max(axis=-1, keepdims=True) * 10 ** (-AUDIBLE_RANGE_DB / 10)
    cells = np.maximum(heard.sum(axis=(0, 2)), 1)
    return np.stack([np.where(heard, power(i) / (total + 1e-30), 0.0).sum(axis=(0, 2)) / cells for i in range(count)])


@dataclass(frozen=True)
class Explanation:
    """What the fit of :func:`stem_response` makes of a reference from one placement of the stems (:func:`explain_by`).

    Attributes:
        share: The share of the reference's energy the fit leaves unexplained (:func:`unexplained`).
        held: ``(stems,)``: each stem's energy in the fitted reference, as a share of the reference's.
        power_ratios: ``(stems,)``: each stem's power in the fitted reference over its power as placed
            (:meth:`StemResponse.power_ratios`): how far its fader would move.
    """

    share: float
    held: np.ndarray
    power_ratios: np.ndarray


def level_moves_db(power_ratios: np.ndarray, audible: np.ndarray | None = None) -> np.ndarray:
    """Each stem's fader move in dB that gives it its power ratio in the reference (``power_ratios``: of
    :meth:`StemResponse.power_ratios` or :attr:`Explanation.power_ratios`), around the median ``audible`` stem's
    move (default: every stem's), so the overall level is left to the loudness match that follows. A stem the fit
    silences moves by -120 dB at most."""
    moves = 10 * np.log10(np.maximum(power_ratios, 1e-12))
    return moves - np.median(moves if audible is None else moves[audible])


def unexplained(placed: Mapping[str, np.ndarray], reference: np.ndarray, sample_rate: int) -> float:
    """The share of ``reference``'s energy that no complex gain per stem, bin and channel and bus gain over time
    (the fit of :func:`stem_response`) can explain from ``placed`` (as there): 0 when the reference is the stems
    under some EQ, faders, pans and bus gain, more the more of what made it is not linear in the stems (their
    compressors)."""
    return explain_by(reference, sample_rate)(placed).share


def explain_by(reference: np.ndarray, sample_rate: int) -> Callable[[Mapping[str, np.ndarray]], Explanation]:
    """The fit of :func:`stem_response` against one ``reference`` for any placement of the stems, its STFT taken
    once, as an :class:`Explanation`: what a search that scores many placements calls
    (:func:`mixenv.dynamics.match_compressors`)."""
    target = _stft(reference, sample_rate)
    energy = float((np.abs(target) ** 2).sum()) + 1e-30

    def explain(placed: Mapping[str, np.ndarray]) -> Explanation:
        stems = _stem_spectra(placed, sample_rate)
        gains, bus = _fit(stems, target)
        share = float((np.abs(target - _combine(gains, stems) * bus) ** 2).sum() / energy)
        fitted = (np.abs(stems) ** 2 * bus**2).sum(axis=-1)  # (2, bins, stems): each stem's energy as placed
        held = (np.abs(gains) ** 2 * fitted).sum(axis=(0, 1))
        return Explanation(share, held / energy, held / (fitted.sum(axis=(0, 1)) + 1e-30))

    return explain


def _stem_spectra(placed: Mapping[str, np.ndarray], sample_rate: int) -> np.ndarray:
    """The stems' STFTs ``(2, bins, stems, frames)``: the layout the fit's batched products want."""
    return np.stack([_stft(audio, sample_rate) for audio in placed.values()], axis=2)


def _fit(stems: np.ndarray, target: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The stems' gains ``(2, bins, stems)`` and the bus's gain over time ``(frames,)`` that best sum ``stems``
    ``(2, bins, stems, frames)`` to ``target`` ``(2, bins, frames)``, fitted in turn :data:`GAIN_ROUNDS` times."""
    bus = np.ones(stems.shape[-1], dtype=np.float32)
    for _ in range(GAIN_ROUNDS):
        gains = _stem_gains(stems * bus, target)
        fitted = _combine(gains, stems)
        power = (np.abs(fitted) ** 2).sum(axis=(0, 1))
        bus = np.clip((fitted.conj() * target).real.sum(axis=(0, 1)) / (power + 1e-30), 0.1, 10.0)
        bus = bus.astype(np.float32)
    return gains, bus


def _combine(gains: np.ndarray, stems: np.ndarray) -> np.ndarray:
    """``(2, bins, frames)``: ``stems`` ``(2, bins, stems, frames)`` weighted by ``gains`` ``(2, bins, stems)``."""
    return (gains[..., None, :].astype(np.complex64) @ stems)[..., 0, :]


def _stem_gains(stems: np.ndarray, target: np.ndarray) -> np.ndarray:
    """Least-squares gains ``(2, bins, stems)`` of ``stems`` ``(2, bins, stems, frames)`` that sum to ``target``
    ``(2, bins, frames)`` in each bin and channel, each pulled toward the channel's common gain by :data:`RIDGE`
    (in units of the geometric mean of the stem's energy in the bin and the stems' mean there)."""
    count = stems.shape[2]
    conj = stems.conj()
    normal = (conj @ np.swapaxes(stems, -1, -2)).astype(np.complex128)
    projected = (conj @ target[..., None])[..., 0].astype(np.complex128)
    total = stems.sum(axis=2)
    cross = (total.conj() * target).sum(axis=(-2, -1))  # per channel, over every bin and frame
    common = (cross / (np.abs(total) ** 2).sum(axis=(-2, -1)).clip(1e-30))[:, None]
    energy = np.einsum("cfii->cfi", normal).real  # each stem's energy in each bin and channel
    ridge = RIDGE * np.sqrt(energy * energy.mean(axis=-1, keepdims=True)) + 1e-30
    normal += ridge[..., None] * np.eye(count)
    projected += ridge * common[..., None]
    return np.linalg.solve(normal, projected[..., None])[..., 0]


def _n_fft(sample_rate: int) -> int:
    """The power of two nearest :data:`WINDOW_SECONDS` at ``sample_rate``."""
    return 2 ** round(math.log2(WINDOW_SECONDS * sample_rate))


def _stft(audio: np.ndarray, sample_rate: int) -> np.ndarray:
    """Complex STFT ``(channels, bins, frames)`` (Hann window of :func:`_n_fft`, a quarter of it between frames)."""
    n_fft = _n_fft(sample_rate)
    _, _, spectra = scipy.signal.stft(
        np.asarray(audio, dtype=np.float32), sample_rate, window="hann", nperseg=n_fft, noverlap=n_fft - n_fft // 4
    )
    return spectra.astype(np.complex64)
