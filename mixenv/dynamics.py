"""Each stem's compressor, read from a reference mix of the stems by what no linear setting explains.

A strip's EQ, fader and pan are linear in its stem, and the bus's shelves and gain over time act on every stem
alike: :func:`mixenv.inversion.unexplained` is the share of a reference that no such settings can make of the stems
as they play now. In a mix of known stems what is left is mostly their compressors (a gain that follows each stem's
own level), so the compressors that leave least are the ones the reference shows. A small CMA-ES over each audible
stem's threshold and ratio finds them, every other control held (the fit reads those anyway, and
:func:`mixenv.balance.match_stems` sets them after). The fit's gains have no range, but a fader has: a reading also
counts as unexplained what its faders could not make up (:func:`fader_shortfall`). The bus's compressor is a gain
over time on the whole mix, which the fit absorbs: it is not read here.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import torch

from mixenv.inversion import Explanation, explain_by, level_moves_db
from mixenv.params import STEM_CONTROLS, MixSettings
from mixenv.render import through_bus_shelves
from mixenv.search import search_generations

COMPRESSOR_CONTROLS = ("comp_threshold_db", "comp_ratio")
READ_BUDGET = 60
"""Fits (one render of the stems each, the start's included) a reading spends."""
READ_SIGMA = 0.3
"""The search's first step (normalised units). The reading chosen on validation songs (2026-12-05; the shipped
model's settings, each stem matched, its compressor read, matched again, then the loudness; MRSTFT / neutral's on
4 s clips of the corpus's validation split and of chorales and folk of seed 12, 8 songs each; the audible
parameter error after the slash): not read 0.178 / 0.077, 0.185 / 0.058, 0.314 / 0.135; read at 60 fits and 0.3
from the start's own compressors 0.127 / 0.068, 0.114 / 0.044, 0.201 (a prototype's run) (the truth's compressors in
their place 0.120, 0.123, 0.188); from compressors brought within +-0.5 of the middle of their ranges 0.126 /
0.068, 0.114 / 0.044; from where they act, :data:`ENGAGE_DB` 12 and :data:`START_RATIO` 2, 0.131 / 0.078, 0.123 /
0.049, 0.197 / 0.093; **6 and 1.5 (kept) 0.123 / 0.070, 0.116 / 0.044, 0.190 / 0.092**. Stem matching (the same
from the neutral settings) 0.243, 0.290, 0.393 unread; from the start's compressors 0.229, 0.276 (a neutral
compressor never acts, and the search never leaves it); 12 and 2: 0.199, 0.150, 0.252; 6 and 1.5: 0.189, 0.149,
0.270."""
ENGAGE_DB = 6.0
"""The search starts with each compressor's threshold at most this far below its stem's peak at the strip's input
(and its ratio at least :data:`START_RATIO`), where it acts on the stem's loud parts: from a compressor that never
acts (threshold 0 dBFS or ratio 1, the neutral settings; or a threshold above a quiet stem's peak) no nearby one
acts either, and a search that sees no difference stops where it began."""
START_RATIO = 1.5
MIN_GAIN = 0.05
"""A reading is kept only where it leaves at least this share less unexplained than the start: below it the
difference is the fit's own inexactness (its ridge; a linear mix of the stems leaves 0.05% of its energy
unexplained), not a compressor."""
READ_THREADS: int | None = None
"""Threads that score a generation's fits (their STFTs and solves release the GIL; the stems are rendered in turn,
since a renderer's plugins hold state); None: torch's intra-op threads, at most 8, the compute threads this process
is given (one in a benchmark's or Ray's workers, the cores otherwise). Two threads read 1.66x faster than one on
2 cores (``python -m experiments.bench_read``, 2026-12-06)."""
SILENT_PEAK = 1e-6
"""A stem whose samples all stay below this (about -120 dBFS) plays nothing: its compressor is not read."""
SILENT_SHARE = 1e-6
"""A stem holding less of the reference's energy than this is not heard there: its fader's move is not counted."""
_FADER = next(control for control in STEM_CONTROLS if control.name == "gain_db")


def match_compressors(
    settings: MixSettings,
    render_stems: Callable[[MixSettings], Mapping[str, np.ndarray]],
    reference: np.ndarray,
    sample_rate: int,
    *,
    budget: int | None = None,
    seed: int = 0,
) -> MixSettings:
    """``settings`` with each audible stem's compressor (threshold and ratio) set to what ``reference`` shows.

    Args:
        settings: Where the reading starts; it is kept where nothing found explains the reference better.
        render_stems: Plays settings' stems as :func:`mixenv.balance.match_stems` takes them (after strip, fader
            and pan, ``(2, samples)`` each, the reference's length); called once for the start, then once per
            fit.
        reference: The mix to read, ``(2, samples)``.
        sample_rate: Of both.
        budget: Fits to spend (rounded up to whole CMA-ES generations); :data:`READ_BUDGET` if None.
        seed: The search's; the same seed reads the same compressors.
    """
    space = settings.space
    placed = render_stems(settings)
    audible = [role for role, audio in placed.items() if np.abs(audio).max(initial=0.0) > SILENT_PEAK]
    mask = space.controls_named(COMPRESSOR_CONTROLS) & space.controls_of(audible)
    if not mask.any():
        return settings
    start = settings.normalized()
    explain = explain_by(reference, sample_rate)

    def with_values(values: np.ndarray) -> MixSettings:
        vector = start.copy()
        vector[mask] = values
        return space.to_physical(vector)

    def left(candidate: MixSettings, candidate_placed: Mapping[str, np.ndarray]) -> float:
        stems = through_bus_shelves(candidate_placed, candidate.master, sample_rate)
        explanation = explain(stems)
        return explanation.share + fader_shortfall(candidate, list(stems), explanation)

    def left_unexplained(values: Sequence[np.ndarray]) -> list[float]:
        candidates = [with_values(v) for v in values]
        placements = [render_stems(candidate) for candidate in candidates]
        with ThreadPoolExecutor(READ_THREADS or min(torch.get_num_threads(), 8)) as pool:
            return list(pool.map(left, candidates, placements))

    start_left = left(settings, placed)  # the start's stems are already rendered
    acting = _acting(settings, placed, audible).normalized()[mask]
    fits = READ_BUDGET if budget is None else budget
    values, found_left = search_generations(left_unexplained, acting, fits - 1, READ_SIGMA, seed)
    if found_left > (1.0 - MIN_GAIN) * start_left:
        return settings
    found = with_values(values)
    return settings.replace({space.names[i]: found[space.names[i]] for i in np.flatnonzero(mask)})


def fader_shortfall(settings: MixSettings, roles: Sequence[str], explanation: Explanation) -> float:
    """The share of the reference's energy that ``settings``' faders cannot make up: each stem's fader moved by its
    power ratio in ``explanation`` (:func:`mixenv.inversion.level_moves_db`, around the median audible stem's, as
    :func:`mixenv.balance.match_balance` moves them, the overall level being the loudness match's) and held within
    its range, the amplitude it misses (or adds) against what the reference holds of it.

    A compressor that takes a stem down further than the reference shows explains its shape as well as the right
    one (a linear fit's gains make any level up), but its fader would have to go past the top of its range to
    make up the level: read so, a folk vocal's threshold fell 10 dB under the truth and its fader pinned at +12 dB
    (test song 6 of folk, 2026-12-07). Counted so, with no weight to choose, on validation songs (the matched
    prediction's MRSTFT / neutral's on the corpus's validation split and the chorales and folk of seed 12, 24 songs
    each): 0.0686 / 0.0676 / 0.1108 → 0.0681 / 0.0676 / 0.1081, 6 songs of 72 better by more than 0.5%, 3 worse
    (paired log-ratio t = -1.8); weighed three times, folk 0.1083; rejecting any reading that pins a fader, 0.1100.
    ``roles``: ``explanation``'s stems, in its order.
    """
    audible = explanation.held > SILENT_SHARE
    if audible.sum() < 2:
        return 0.0
    low, high = _FADER.low, _FADER.high
    moves = level_moves_db(explanation.power_ratios, audible)
    wanted = np.array([settings[f"{role}.gain_db"] for role in roles]) + moves
    missed = 10 ** ((np.clip(wanted, low, high) - wanted) / 20) - 1  # amplitude's relative error at the range's edge
    return float((explanation.held * missed**2)[audible].sum())


def _acting(settings: MixSettings, placed: Mapping[str, np.ndarray], roles: list[str]) -> MixSettings:
    """``settings`` with each of ``roles``' compressors brought to where it acts on ``placed`` (:data:`ENGAGE_DB`)."""
    low = next(control.low for control in STEM_CONTROLS if control.name == "comp_threshold_db")
    changes = {}
    for role in roles:
        # The strip's output before its fader (the pan's constant-power law moves a channel by at most 3 dB).
        peak_db = 20.0 * np.log10(np.abs(placed[role]).max()) - settings[f"{role}.gain_db"]
        threshold = min(settings[f"{role}.comp_threshold_db"], peak_db - ENGAGE_DB)
        changes[f"{role}.comp_threshold_db"] = max(threshold, low)
        changes[f"{role}.comp_ratio"] = max(settings[f"{role}.comp_ratio"], START_RATIO)
    return settings.replace(changes)
