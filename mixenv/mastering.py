"""Reaching a loudness with the mix's own controls: the limiter's drive first, every fader for the rest.

Used wherever settings must land a mix on a loudness: the loudness-balance and reference-matching heuristics, and
the evaluation sets' mix prior, which masters its references to -14 LUFS the way the env renders them (no separate
loudness normaliser), so a reference stays exactly reproducible from its settings.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

import numpy as np

from mixenv.loudness import SILENCE_LUFS, integrated_lufs
from mixenv.params import MixSettings

MAX_DRIVE_DB = 12.0
"""The limiter control's range: ``master_limiter_db`` down to -12 dB drives the bus up to 12 dB into the ceiling."""


def drive_to_loudness(
    render: Callable[[MixSettings], np.ndarray],
    settings: MixSettings,
    roles: Iterable[str],
    sample_rate: int,
    target_lufs: float,
    *,
    passes: int = 2,
) -> MixSettings:
    """``settings`` changed so that ``render(settings)`` reads ``target_lufs``: the limiter drives up to 12 dB, the
    faders of ``roles`` move together for the rest (and for any cut).

    Measure-and-correct ``passes`` times, since the limiter costs a little loudness when it works. A silent mix is
    returned unchanged.
    """
    roles = tuple(roles)
    for _ in range(passes):
        level = integrated_lufs(render(settings), sample_rate)
        if level <= SILENCE_LUFS:
            return settings
        drive = -settings["master_limiter_db"] + (target_lufs - level)
        limiter = float(np.clip(-drive, -MAX_DRIVE_DB, 0.0))
        fader_shift = drive + limiter  # what the limiter cannot (or should not) do
        changes = {"master_limiter_db": limiter}
        changes |= {f"{role}.gain_db": settings[f"{role}.gain_db"] + fader_shift for role in roles}
        settings = settings.replace(changes)
    return settings
