"""A song before it is mixed: what every corpus style hands the corpus builder."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from mixenv.params import MixSettings, ParamSpace

Prior = Callable[[np.random.Generator, Mapping[str, np.ndarray], int, ParamSpace], MixSettings]
"""Draws a song's ground-truth settings from its stems as written to disk: ``prior(rng, stems, rate, space)``."""


@dataclass(frozen=True)
class Draft:
    """One song of a style, before mixing.

    Attributes:
        stems: Role -> raw recorded stem ``(channels, samples)`` float32 (the roles the song has, in role order).
        prior: How its ground-truth settings are drawn, once the stems are read back from their 16-bit files.
        summary: What was played, for the manifest (before the reference's loudness and peak).
        details: How it was recorded, for the manifest (after them).
    """

    stems: dict[str, np.ndarray]
    prior: Prior
    summary: dict[str, Any] = field(default_factory=dict)
    details: dict[str, Any] = field(default_factory=dict)
