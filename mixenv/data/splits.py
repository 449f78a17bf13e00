"""Deterministic train/val/test splits by song: a song is in exactly one split, whatever else is in the set."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

import numpy as np

SPLITS: tuple[str, ...] = ("train", "val", "test")
DEFAULT_FRACTIONS: tuple[float, float, float] = (0.8, 0.1, 0.1)


def hash_split(name: str, fractions: Sequence[float] = DEFAULT_FRACTIONS, salt: str = "mixenv") -> str:
    """The split of one song, from a hash of its name.

    Stable when songs are added or removed (no reshuffle of the others), so results stay comparable as a
    collection grows; proportions are met only on average.
    """
    _check_fractions(fractions)
    digest = hashlib.sha256(f"{salt}:{name}".encode()).digest()
    u = int.from_bytes(digest[:8], "big") / 2**64
    return SPLITS[int(np.searchsorted(np.cumsum(fractions), u, side="right"))]


def exact_split(names: Sequence[str], seed: int, fractions: Sequence[float] = DEFAULT_FRACTIONS) -> dict[str, str]:
    """Split a fixed set of songs in exact proportions (rounded), by a permutation drawn from ``seed``.

    Used where the set is fixed at creation (the synthetic corpus), so each split gets its exact share.
    """
    _check_fractions(fractions)
    if len(set(names)) != len(names):
        raise ValueError("song names must be unique to be split")
    order = np.random.default_rng(seed).permutation(len(names))
    bounds = np.round(np.cumsum(fractions) * len(names)).astype(int)
    return {names[i]: SPLITS[int(np.searchsorted(bounds, rank, side="right"))] for rank, i in enumerate(order)}


def _check_fractions(fractions: Sequence[float]) -> None:
    if len(fractions) != len(SPLITS) or any(f < 0 for f in fractions) or not np.isclose(sum(fractions), 1.0):
        raise ValueError(
            f"fractions must be {len(SPLITS)} non-negative numbers for {SPLITS} summing to 1, got {fractions}"
        )
