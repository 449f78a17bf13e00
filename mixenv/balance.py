"""Rule-based mix decisions shared by the heuristics and ``mixenv mix``: a loudness balance of the roles, the bus
tone matched to a reference's long-term spectrum (matchering-style), and each stem's fader, pan and EQ matched to
how it sounds in a reference of it (:mod:`mixenv.inversion`: its gain per channel and frequency, by least squares).

Each returns settings and leaves the bus level to the caller, which lands it on a loudness with the mix's own
controls (:func:`mixenv.mastering.drive_to_loudness`) or with the renderer's mastering.
"""

from __future__ import annotations

import functools
import itertools
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pedalboard
import scipy.signal
from scipy.optimize import nnls

from mixenv.dynamics import match_compressors
from mixenv.features import FeatureConfig
from mixenv.inversion import StemResponse, level_moves_db, stem_response
from mixenv.loudness import SILENCE_LUFS, integrated_lufs
from mixenv.params import MixSettings
from mixenv.render import (
    HIGH_SHELF_HZ,
    LOW_SHELF_HZ,
    MASTER_HIGH_SHELF_HZ,
    MASTER_LOW_SHELF_HZ,
    MID_Q,
    SHELF_Q,
    high_pass_gain,
    through_bus_shelves,
)

ROLE_LUFS: Mapping[str, float] = {"vocals": -20.0, "drums": -22.0, "bass": -22.0, "other": -24.0}
"""Loudness of each stem in a balanced mix: the lead on top, the rhythm section close, the rest under them."""
BUS_LUFS = -14.0
"""The streaming loudness norm a reference-free mix is mastered to."""
SHELF_LIMIT_DB = 12.0
BALANCE_BANDS_HZ: np.ndarray = np.geomspace(30.0, 11_000.0, 25)
"""Edges of the 24 bands a balance is measured in (bands above a rate's Nyquist frequency stay empty)."""
TONE_BANDS_HZ: np.ndarray = np.concatenate(
    [BALANCE_BANDS_HZ, BALANCE_BANDS_HZ[-1] * (BALANCE_BANDS_HZ[1] / BALANCE_BANDS_HZ[0]) ** np.arange(1, 4)]
)
"""Edges of the 27 bands :func:`match_stem_tone` fits a strip's EQ in: the balance's, and three more of the same
width up to 23 kHz, so that at 44.1 and 48 kHz the high shelf is fitted where it acts most (at 22.05 kHz the three
lie above what the rate holds and the fit is the balance bands'). Up to 11 kHz only, the matched prediction's
MRSTFT / the neutral mix's on validation songs (the chorales and folk of seed 12, 12 songs each, 4 s clips,
2026-12-07) was 0.0847 / 0.1524; with these 0.0734 / 0.1493: 13% and 2% closer (the corpus's validation split, at
22.05 kHz, where the new bands weigh nothing: unchanged). On a reference made by the linear part of the truth's
settings (every compressor off), the match from neutral EQ, faders and pans had left 0.065 / 0.130 of the neutral
mix's distance, and each stem's high shelf put at the truth's took the chorales to 0.031: what the fit never saw,
above 11 kHz, was most of what it missed there."""
SILENT_STEM_DB = -60.0
"""A stem more than this far below the loudest one (its energy in the clip) sits out of a balance."""
BALANCE_MOVE_LIMIT_DB = 10.0
"""The furthest :func:`match_balance` moves a fader: a stem the reference cannot tell from another (the same
signal twice) is held to a plausible move however the fit shares their power out."""
_BALANCE_STFT = FeatureConfig()
"""The frames of the band energies that tell which stems are audible (:func:`audible_stems`): the log-mel front
end's (46 ms windows, 23 ms hop)."""


def loudness_balance(settings: MixSettings, stems: Mapping[str, np.ndarray], sample_rate: int) -> MixSettings:
    """``settings`` with each audible stem's fader set to bring it to its :data:`ROLE_LUFS` loudness in the mix.

    A stem is measured as the renderer places it: a mono stem at centre plays at unity in both channels, 3 LU
    louder than the mono file measures.
    """
    levels = {role: integrated_lufs(as_played(stem), sample_rate) for role, stem in stems.items()}
    return balance_levels(settings, levels)


def balance_placed(settings: MixSettings, placed: Mapping[str, np.ndarray], sample_rate: int) -> MixSettings:
    """:func:`loudness_balance` of the stems as their strips play them: each audible stem's fader set so that the stem
    as it sounds in the mix reaches its :data:`ROLE_LUFS` loudness.

    ``placed`` as for :func:`match_balance` (rendered under ``settings``, faders included: a fader is a plain gain
    after the strip, so the stem's level at unity is its loudness there less its fader). A strip's EQ and
    compression change a stem's loudness, which a balance of the raw files misses: on validation songs (8 of each
    set, the shipped model's reference-free settings mastered to -14 LUFS; MRSTFT to the reference) the model's own
    faders score 0.976 / 0.647 / 0.625 on the corpus's validation split (24 songs) / chorales / folk of seed 12,
    these faders 0.799 / 0.563 / 0.548, faders balanced on the raw files 0.868 / 0.595 / 0.578, and the plain
    loudness balance (neutral strips) 0.804 / 0.655 / 0.703.
    """
    levels = {}
    for role, stem in placed.items():
        measured = integrated_lufs(stem, sample_rate)
        levels[role] = measured - settings[f"{role}.gain_db"] if measured > SILENCE_LUFS else SILENCE_LUFS
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


def band_energy(power: np.ndarray, freqs: np.ndarray) -> np.ndarray:
    """Energy in each of the :data:`BALANCE_BANDS_HZ` per frame ``(bands, frames)``, float64, from a power
    spectrogram ``(bins, frames)`` whose bins sit at ``freqs`` (Hz)."""
    edges = np.searchsorted(freqs, BALANCE_BANDS_HZ)
    return np.stack([power[lo:hi].sum(axis=0, dtype=np.float64) for lo, hi in itertools.pairwise(edges)])


def audible_stems(energies: Mapping[str, np.ndarray]) -> list[str]:
    """The roles whose total energy is within :data:`SILENT_STEM_DB` of the loudest one's, in their order."""
    loudest = max(float(e.sum()) for e in energies.values())
    floor = loudest * 10 ** (SILENT_STEM_DB / 10)
    return [role for role, energy in energies.items() if loudest > 0 and float(energy.sum()) > floor]


def stem_powers(stems: Sequence[np.ndarray], mix: np.ndarray) -> np.ndarray:
    """How much of each stem's power the mix holds: non-negative weights ``w`` with ``mix ≈ sum(w_i * stems_i)``.

    Least squares over band energies ``(bands, frames)`` (:func:`band_energy`), stems and mix alike: the stems'
    powers add in the mix where they do not overlap in a band and frame, and the frames tell them apart where they
    do. What the anomaly descriptors read a mix's balance with (from the mix alone: no phase to compare); a
    reference of the stems themselves is read more exactly by :func:`mixenv.inversion.stem_response`.
    """
    basis = np.stack([stem.ravel() for stem in stems], axis=1)
    target = mix.ravel()
    scale = float(basis.mean()) + 1e-30  # in units of the stems' mean energy: well conditioned at any level
    weights, _ = nnls(basis / scale, target / scale)
    return weights


def match_balance(
    settings: MixSettings, placed: Mapping[str, np.ndarray], reference: np.ndarray, sample_rate: int
) -> MixSettings:
    """``settings`` with the faders and pans moved so that each stem is as loud against the others, and sits between
    the channels, as it does in ``reference``.

    ``placed``: the stems as ``settings`` play them in the mix (after strip, fader and pan, ``(2, samples)`` each,
    the reference's length: :meth:`~mixenv.render.Renderer.render` with ``return_stems``). Each stem's power in the
    reference, against its power as placed, is read from its gains there (:func:`mixenv.inversion.stem_response`)
    and its fader moved by the ratio, in dB, around the median stem's, so the overall level is left to the loudness
    match that follows, and by at most :data:`BALANCE_MOVE_LIMIT_DB` either way; its pan is moved by its power's
    ratio between the channels (:func:`matched_pan`). Silent stems, and songs of one stem, keep their settings.
    """
    response = _response(placed, reference, sample_rate)
    if response is None:
        return settings
    gains_db = np.clip(level_moves_db(response.power_ratios()), -BALANCE_MOVE_LIMIT_DB, BALANCE_MOVE_LIMIT_DB)
    changes = {}
    for role, db, (left, right) in zip(response.roles, gains_db, response.channel_ratios(), strict=True):
        changes[f"{role}.gain_db"] = settings[f"{role}.gain_db"] + float(db)
        changes[f"{role}.pan"] = matched_pan(settings[f"{role}.pan"], float(left), float(right))
    return settings.replace(changes)


PAN_EDGE = 0.02
"""How close (radians of the pan law's angle) to a hard pan :func:`matched_pan` leaves a pan alone: there one
channel holds next to nothing of the stem, and its ratio says nothing."""


def matched_pan(pan: float, left: float, right: float) -> float:
    """The pan that puts a stem between the channels as a reference does, from its pan now and its power in the
    reference over its power now in each channel (``left``, ``right``).

    Under the constant-power law (:func:`mixenv.render.pan_gains`) the right channel's gain over the left's is
    ``tan θ``, ``θ = (pan + 1) π / 4``; the reference's is this one's times ``sqrt(right / left)``. A pan within
    :data:`PAN_EDGE` of hard left or right, or a channel without the stem, keeps it.
    """
    theta = (min(max(pan, -1.0), 1.0) + 1.0) * np.pi / 4
    if left <= 0 or right <= 0 or not PAN_EDGE < theta < np.pi / 2 - PAN_EDGE:
        return pan
    return float(np.clip(4 / np.pi * np.arctan(np.sqrt(right / left) * np.tan(theta)) - 1, -1.0, 1.0))


def _response(placed: Mapping[str, np.ndarray], reference: np.ndarray, sample_rate: int) -> StemResponse | None:
    """:func:`mixenv.inversion.stem_response` of the audible stems of ``placed`` (:func:`audible_stems`), or None
    where fewer than two are (nothing to balance)."""
    energies = {role: band_energy(*_power(audio, sample_rate)) for role, audio in placed.items()}
    roles = audible_stems(energies)
    if len(roles) < 2:
        return None
    return stem_response({role: placed[role] for role in roles}, reference, sample_rate)


STEM_TONE_LIMIT_DB = 6.0
"""The furthest :func:`match_stem_tone` moves a strip's EQ gain (limits of 9 and 12 dB did no clearer; with the tone
read from the stems' complex gains, 12 dB moved no validation set's mean MRSTFT by 0.001, 2026-12-06: the limit
binds on 3 songs of 36, folk's wider EQ moves included)."""
EQ_SHRINK = 0.1
"""A ridge term on :func:`match_stem_tone`'s EQ gains (in units of one band the stem holds alone), so that a gain
only bands where the stem is barely heard could set stays near where it was: a bass's high shelf fitted to the
noise above 5 kHz moved 4.8 dB without it, 0.1 dB with it. Chosen on validation songs (the corpus's validation
split, chorales and folk of seed 12, 8 songs each; the shipped model's settings with each stem's tone, then its
fader matched, then the loudness; mean MRSTFT), with the tone read from band energies then, as the limits
and margins below were too: 0.279 / 0.433 / 0.374 without, 0.273 / 0.420 / 0.380 at 0.1."""

MID_CENTRES_HZ: np.ndarray = np.geomspace(200.0, 6_000.0, 17)
"""The centres :func:`match_stem_tone` tries for a stem's mid band (the control's range, a third of an octave
apart, about a quarter of the band's width at Q 1)."""
MID_MOVE_MARGIN = 0.2
"""How much better (as a fraction of its weighted squared residual) another centre must fit a stem's tone than
the mid band's current one before :func:`match_stem_tone` moves it: where the stem's tone says little about a
centre, it stays where the model put it. Chosen on validation songs (the shipped model's balance-, tone- and
loudness-matched settings, 4 s clips; MRSTFT, audible parameter error): on the corpus's validation split (24 songs)
the centre kept 0.295, 0.113; margin 0 0.275, 0.105; 0.2 0.274, 0.104; 0.5 0.280, 0.104. Measured again with the
tone read from the stems' complex gains (2026-12-06; the matched prediction's MRSTFT / neutral's on the corpus's
validation split and the chorales and folk of seed 12, 12 songs each): 0.2 0.097 / 0.095 / 0.135, 0 0.096 / 0.110 /
0.136."""

MID_MOVE_MIN_DB = 1.0
"""The least gain (dB) of a mid band whose centre :func:`match_stem_tone` moves: a centre under a smaller band is
not heard, and moving it would only trade the model's guess for noise. Chosen on validation songs (as for
:data:`MID_MOVE_MARGIN`, margin 0.2; MRSTFT, audible error on the corpus's validation split / chorales / folk of
seed 12, 8 songs each): centre kept 0.295, 0.113 / 0.412, 0.115 / 0.379, 0.164; any gain 0.274, 0.104 / 0.409,
0.109 / 0.377, 0.158; 1 dB 0.274, 0.103 / 0.409, 0.109 / 0.377, 0.158; 2 dB 0.275, 0.106 / 0.408, 0.114 / 0.377,
0.161."""


STEM_PASSES = 2
"""Rounds of :func:`match_stems` (tone, then faders and pans, each read from a fresh render). Chosen on validation
songs (the shipped model's settings matched, then the loudness; MRSTFT / audible parameter error on the corpus's
validation split, 24 songs / chorales / folk of seed 12, 8 songs each): one round 0.196 / 0.082, 0.174 / 0.062,
0.259 / 0.140; two 0.185 / 0.078, 0.162 / 0.058, 0.257 / 0.136. Again with the compressors read (2026-12-06; the matched
prediction's MRSTFT / neutral's, 12 songs per set): two 0.097 / 0.095 / 0.135, three 0.095 / 0.099 / 0.140."""


def match_stems(
    settings: MixSettings,
    render_stems: Callable[[MixSettings], Mapping[str, np.ndarray]],
    reference: np.ndarray | None,
    sample_rate: int,
    *,
    read_compressors: bool = True,
) -> MixSettings:
    """``settings`` with each stem's tone (:func:`match_stem_tone`), then its fader and pan
    (:func:`match_balance`), matched to ``reference``, :data:`STEM_PASSES` times, then (with ``read_compressors``)
    each stem's compressor read from it (:func:`mixenv.dynamics.match_compressors`) and the tone, fader and pan
    matched again: what the reference shows of each stem, which a model would have to guess. Without a reference,
    the faders alone are set by the convention instead (:func:`balance_placed`), the tone left as it is.

    ``render_stems`` plays settings' stems as :func:`match_balance` takes them (called twice a round and once per
    fit of the compressors' reading, :data:`~mixenv.dynamics.READ_BUDGET` fits; once without a reference); each
    stem is compared with the reference through the bus's shelves
    (:func:`mixenv.render.through_bus_shelves`), so that its tone is its strip's and not the bus's. On validation
    songs (as for :data:`STEM_PASSES`; mean MRSTFT): the model's settings 0.503 / 0.368 / 0.594; matched from
    band energies (least squares on them, as before :mod:`mixenv.inversion`; no pans, one round) 0.274 / 0.409 /
    0.377; by the stems' gains, tone and faders, one round 0.224 / 0.251 / 0.317; with pans 0.196 / 0.174 / 0.259;
    two rounds 0.185 / 0.163 / 0.253; each stem through the bus's shelves 0.166 / 0.156 / 0.252 (for the
    compressors' reading see :data:`~mixenv.dynamics.READ_SIGMA`).
    """
    if reference is None:
        return balance_placed(settings, render_stems(settings), sample_rate)

    def matched(current: MixSettings) -> MixSettings:
        for _ in range(STEM_PASSES):
            current = match_stem_tone(current, _at_bus(render_stems, current, sample_rate), reference, sample_rate)
            current = match_balance(current, _at_bus(render_stems, current, sample_rate), reference, sample_rate)
        return current

    settings = matched(settings)
    if not read_compressors:
        return settings
    return matched(match_compressors(settings, render_stems, reference, sample_rate))


def _at_bus(
    render_stems: Callable[[MixSettings], Mapping[str, np.ndarray]], settings: MixSettings, sample_rate: int
) -> dict[str, np.ndarray]:
    """The stems ``settings`` play, each through the bus's shelves: what the stem matches compare with the reference,
    so that a stem's tone is its strip's and not the bus's."""
    return through_bus_shelves(render_stems(settings), settings.master, sample_rate)


def match_stem_tone(
    settings: MixSettings, placed: Mapping[str, np.ndarray], reference: np.ndarray, sample_rate: int
) -> MixSettings:
    """``settings`` with each stem's EQ (low shelf, mid band, high shelf) moved so that the stem sounds in
    ``placed`` as it sounds in ``reference``.

    ``placed`` as for :func:`match_balance`. Each stem's power ratio between the reference and ``placed`` in each
    of :data:`TONE_BANDS_HZ` (from its gains there, :func:`mixenv.inversion.stem_response`), against its ratio over
    all bands, is its tone error, and the strip's three EQ gains are fitted to it by least squares on their
    responses (plus a free offset: the level is the faders'), held near no change by :data:`EQ_SHRINK`, and moved
    by at most :data:`STEM_TONE_LIMIT_DB`. Each band is weighted by how much the stem is heard in it: the mean of
    its share of the band's energy in the reference, which the spectral distance's convergence term sees, and its
    share of the band's time, its :attr:`~mixenv.inversion.StemResponse.presence`, which the log-magnitude term
    sees (a vocal between the drums' hits holds little of the highs' energy but much of their frames). Chosen on
    validation songs (2026-12-07; the shipped model's prediction with each stem's tone, fader, pan and compressor
    read, then the loudness; MRSTFT / the neutral mix's on the corpus's validation split, chorales and folk of seed
    12, 12 songs each; the inversion's ridge pulling toward each bin's common gain, as it did then): the energy
    share alone 0.103 / 0.073 / 0.149, the presence alone - / 0.085 / 0.137, their mean 0.098 / 0.077 / 0.135
    (with the ridge toward the channel's gain, in units of the stems' mean energy, 0.099 / 0.079 / 0.126). Each
    band weighs by the stem's high-pass gain there as well (:func:`mixenv.render.high_pass_gain`): below the corner
    the stem holds only what its high-pass leaves, low noise the inversion cannot tell from the other stems' (each
    voice of a chorale holds some), and the shelves would chase it (a folk vocal's low shelf went to +6.5 dB, the
    truth -1.8, after a +5.5 dB reading at 34 Hz, a third of an octave its high-pass governs). With the ridge as it
    is now (:data:`mixenv.inversion.RIDGE`; the same songs, 2026-12-07): 0.0789 / 0.0692 / 0.1117, without the
    high-pass's weights 0.0792 / 0.0764 / 0.1173 (a 12 dB/octave Butterworth response in place of the strip's own
    0.0789 / 0.0646 / 0.1108, within noise of it; its square 0.0926 / 0.0719 / 0.1209 with the ridge as before).
    The mid band's centre is fitted too: the same fit for each of :data:`MID_CENTRES_HZ`
    (the current band taken out of the tone first), the best kept when it beats the current centre's by
    :data:`MID_MOVE_MARGIN` with a gain of :data:`MID_MOVE_MIN_DB` or more.
    Silent stems, and songs of one stem, keep their EQ.
    """
    changes = {}
    for fit in _tone_fits(settings, placed, reference, sample_rate):
        bar, gains = fit.solve(fit.current)
        bar *= 1 - MID_MOVE_MARGIN  # what another centre must beat
        centre = fit.centre
        for hz, peak in zip(MID_CENTRES_HZ, _peak_responses(sample_rate), strict=True):
            residual, moved = fit.solve(peak)
            if residual < bar and abs(moved[3]) >= MID_MOVE_MIN_DB:
                bar, gains, centre = residual, moved, float(hz)
        changes.update(fit.changes(settings, gains, centre))
    return settings.replace(changes)


MID_REGION_EDGES_HZ = (650.0, 1_900.0)
"""Where :func:`mid_band_alternatives` splits the mid band's range: the low mids, the mids and the presence range.
A stem's tone can often be matched in two of them about equally well (a vocal's presence lift and a low-mid cut
with its fader up have nearly the same long-term shape), and the match settles in whichever its start is nearer.
Three regions, a third of the range's 17 centres each, as first tried (2026-12-08: the benchmark's refined
prediction on validation songs 0.0679 / 0.0662 / 0.0899 -> 0.0610 / 0.0638 / 0.0882 of the neutral mix's MRSTFT,
corpus / chorales / folk; docs/reading_the_reference.md); other splits were not tried."""


def mid_band_alternatives(
    settings: MixSettings,
    render_stems: Callable[[MixSettings], Mapping[str, np.ndarray]],
    reference: np.ndarray,
    sample_rate: int,
) -> list[dict[str, float]]:
    """Other readings of each stem's tone: per stem (the loudest in the reference first), its EQ fitted as
    :func:`match_stem_tone` fits it but with the mid band's centre in each region of :data:`MID_REGION_EDGES_HZ`
    other than the current centre's (the best centre there, with a gain of :data:`MID_MOVE_MIN_DB` or more), each
    as the changes to that stem's EQ controls. The fit cannot tell such readings apart by the stem's long-term tone;
    a render can (:func:`agents.heuristics.try_mid_bands`). ``render_stems`` as for :func:`match_stems` (called
    once; each stem compared through the bus's shelves, as there)."""
    regions = np.digitize(MID_CENTRES_HZ, MID_REGION_EDGES_HZ)
    found = []
    placed = _at_bus(render_stems, settings, sample_rate)
    for fit in _tone_fits(settings, placed, reference, sample_rate):
        current = np.digitize(fit.centre, MID_REGION_EDGES_HZ)
        for region in np.unique(regions[regions != current]):
            best = None
            in_region = regions == region
            for hz, peak in zip(MID_CENTRES_HZ[in_region], _peak_responses(sample_rate)[in_region], strict=True):
                residual, gains = fit.solve(peak)
                if abs(gains[3]) >= MID_MOVE_MIN_DB and (best is None or residual < best[0]):
                    best = (residual, gains, float(hz))
            if best is not None:
                found.append(fit.changes(settings, best[1], best[2]))
    return found


@dataclass(frozen=True)
class _ToneFit:
    """One stem's tone error as :func:`match_stem_tone` fits it: least squares of its EQ gains on the weighted
    responses of the shelves and one mid band, the current mid band taken out of the tone wanted."""

    role: str
    centre: float
    mid_db: float
    shelves: np.ndarray
    """The offset's and the two shelves' responses, weighted ``(bands, 3)``."""
    weight: np.ndarray
    current: np.ndarray
    """The current mid band's response ``(bands,)``."""
    wanted: np.ndarray

    def solve(self, peak: np.ndarray) -> tuple[float, np.ndarray]:
        """The weighted squared residual and the (offset, low shelf, high shelf, mid band) gains with the mid band's
        response ``peak``."""
        return _fit_eq(np.concatenate([self.shelves, (peak * self.weight)[:, None]], axis=1), self.wanted)

    def changes(self, settings: MixSettings, gains: np.ndarray, centre: float) -> dict[str, float]:
        """The strip's EQ controls moved by ``gains`` (each move limited), the mid band at ``centre``."""
        _, low, high, mid = gains
        role = self.role
        moves = (("low_shelf_db", low), ("high_shelf_db", high), ("mid_db", mid - self.mid_db))
        changes = {f"{role}.{name}": settings[f"{role}.{name}"] + _limited(move) for name, move in moves}
        return {**changes, f"{role}.mid_freq_hz": centre}


def _tone_fits(
    settings: MixSettings, placed: Mapping[str, np.ndarray], reference: np.ndarray, sample_rate: int
) -> list[_ToneFit]:
    """:class:`_ToneFit` of each audible stem, the loudest in the reference first (none for songs of one stem)."""
    response = _response(placed, reference, sample_rate)
    if response is None:
        return []
    per_band, held = response.band_ratios(TONE_BANDS_HZ)  # (bands, stems) each
    overall = response.power_ratios()
    share = held / (held.sum(axis=1, keepdims=True) + 1e-30)
    weights = np.sqrt((share + response.band_presence(TONE_BANDS_HZ)) / 2)
    centres = _tone_centres()
    heard = centres < 0.45 * sample_rate
    shelves = np.stack(
        [
            np.ones_like(centres),
            _response_db(pedalboard.LowShelfFilter(cutoff_frequency_hz=LOW_SHELF_HZ, q=SHELF_Q), centres, sample_rate),
            _response_db(
                pedalboard.HighShelfFilter(cutoff_frequency_hz=HIGH_SHELF_HZ, q=SHELF_Q), centres, sample_rate
            ),
        ],
        axis=1,
    )
    fits = []
    for i in np.argsort(-held.sum(axis=0), kind="stable"):
        role = response.roles[i]
        if overall[i] <= 0:
            continue
        error_db = 10 * np.log10(np.maximum(per_band[:, i], 1e-3 * overall[i]) / overall[i])
        centre, mid_db = settings[f"{role}.mid_freq_hz"], settings[f"{role}.mid_db"]
        current = _peak_response(centre, centres, sample_rate)
        weight = weights[:, i] * heard * high_pass_gain(settings[f"{role}.hpf_hz"], centres)
        # The tone wanted without the current mid band (its gain, pulled toward the current one's, is refitted).
        wanted = np.concatenate([(error_db + mid_db * current) * weight, np.sqrt(EQ_SHRINK) * np.array([0, 0, mid_db])])
        fits.append(_ToneFit(role, centre, mid_db, shelves * weight[:, None], weight, current, wanted))
    return fits


def _fit_eq(basis: np.ndarray, wanted: np.ndarray) -> tuple[float, np.ndarray]:
    """Least squares of a strip's (offset, low shelf, high shelf, mid band) gains in dB on ``basis`` (weighted
    responses, one row per band), with :data:`EQ_SHRINK`'s ridge rows on the three gains: the weighted squared
    residual, and the gains."""
    system = np.concatenate([basis, np.sqrt(EQ_SHRINK) * np.eye(4)[1:]])
    gains, *_ = np.linalg.lstsq(system, wanted, rcond=None)
    return float(np.sum((system @ gains - wanted) ** 2)), gains


def _limited(move_db: float) -> float:
    """A tone move held within ±:data:`STEM_TONE_LIMIT_DB`."""
    return float(np.clip(move_db, -STEM_TONE_LIMIT_DB, STEM_TONE_LIMIT_DB))


def _peak_response(centre_hz: float, freqs: np.ndarray, sample_rate: int) -> np.ndarray:
    """The strip's mid band at ``centre_hz``: its response at ``freqs`` per dB of gain (:func:`_response_db`)."""
    return _response_db(pedalboard.PeakFilter(cutoff_frequency_hz=centre_hz, q=MID_Q), freqs, sample_rate)


@functools.cache
def _peak_responses(sample_rate: int) -> np.ndarray:
    """:func:`_peak_response` of every :data:`MID_CENTRES_HZ` at the tone bands' centres ``(centres, bands)``,
    computed once per rate."""
    responses = np.stack([_peak_response(hz, _tone_centres(), sample_rate) for hz in MID_CENTRES_HZ])
    responses.setflags(write=False)
    return responses


def _tone_centres() -> np.ndarray:
    """The geometric centre of each of the tone's bands (:data:`TONE_BANDS_HZ`)."""
    return np.sqrt(TONE_BANDS_HZ[:-1] * TONE_BANDS_HZ[1:])


def _power(audio: np.ndarray, sample_rate: int) -> tuple[np.ndarray, np.ndarray]:
    """Power spectrogram of both channels together ``(bins, frames)`` and its bin frequencies."""
    n_fft, hop = _BALANCE_STFT.n_fft(sample_rate), _BALANCE_STFT.hop_length(sample_rate)
    freqs, _, spectra = scipy.signal.stft(
        np.asarray(audio, dtype=np.float32), sample_rate, window="hann", nperseg=n_fft, noverlap=n_fft - hop
    )
    return (np.abs(spectra) ** 2).sum(axis=0), freqs


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
    low = pedalboard.LowShelfFilter(cutoff_frequency_hz=MASTER_LOW_SHELF_HZ, q=SHELF_Q)
    high = pedalboard.HighShelfFilter(cutoff_frequency_hz=MASTER_HIGH_SHELF_HZ, q=SHELF_Q)
    basis = np.stack(
        [np.ones_like(freqs), _response_db(low, freqs, sample_rate), _response_db(high, freqs, sample_rate)], axis=1
    )
    (_, low, high), *_ = np.linalg.lstsq(basis, difference_db, rcond=None)
    limit = SHELF_LIMIT_DB
    return float(np.clip(low, -limit, limit)), float(np.clip(high, -limit, limit))


def _response_db(plugin: pedalboard.Plugin, freqs: np.ndarray, sample_rate: int, gain_db: float = 6.0) -> np.ndarray:
    """Magnitude response (dB) at ``freqs`` of an EQ ``plugin`` set to ``gain_db``, divided by ``gain_db``: near
    linear in the gain, so least squares on these columns gives gains in dB."""
    plugin.gain_db = gain_db
    impulse = np.zeros((1, 8192), np.float32)
    impulse[0, 0] = 1.0
    response = np.abs(np.fft.rfft(plugin(impulse, sample_rate)[0]))
    grid = np.fft.rfftfreq(8192, 1 / sample_rate)
    return np.interp(freqs, grid, 20 * np.log10(np.maximum(response, 1e-9))) / gain_db
