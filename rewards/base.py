"""The reward-term interface and the context that lets terms share work.

A term is a small object with a ``name`` and ``score(mix, context) -> float`` where higher is better; it says
whether it needs a reference. A :class:`ScoreContext` holds one reference (or none) for as long as it stays the
same (an env episode) and memoises what terms derive from it (the reference's STFT magnitudes, its loudness),
plus what they derive from the current mix (its loudness, its backbone embedding), so FAD and anomaly share
one forward pass and nothing about the reference is computed twice.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol, TypeVar, runtime_checkable

import numpy as np

from mixenv.loudness import integrated_lufs

T = TypeVar("T")


class ScoreContext:
    """Per-reference memo plus a memo for the latest mix scored against it.

    Args:
        sample_rate: Rate of the mix and the reference, in Hz.
        reference: The reference mix ``(channels, samples)``, or None for reference-free scoring.
    """

    def __init__(self, sample_rate: int, reference: np.ndarray | None = None) -> None:
        self.sample_rate = sample_rate
        self.reference = reference
        self._reference_memo: dict[str, Any] = {}
        self._mix: np.ndarray | None = None
        self._mix_memo: dict[str, Any] = {}

    def reference_value(self, key: str, compute: Callable[[np.ndarray], T]) -> T:
        """``compute(reference)``, computed once per context.

        Raises:
            ValueError: If the context has no reference.
        """
        if self.reference is None:
            raise ValueError(f"{key} needs a reference mix, but this context has none")
        if key not in self._reference_memo:
            self._reference_memo[key] = compute(self.reference)
        return self._reference_memo[key]

    def mix_value(self, mix: np.ndarray, key: str, compute: Callable[[np.ndarray], T]) -> T:
        """``compute(mix)``, computed once per mix (the memo holds the latest mix only, by identity)."""
        if mix is not self._mix:
            self._mix, self._mix_memo = mix, {}
        if key not in self._mix_memo:
            self._mix_memo[key] = compute(mix)
        return self._mix_memo[key]

    def mix_lufs(self, mix: np.ndarray) -> float:
        """Integrated loudness of ``mix``, memoised."""
        return self.mix_value(mix, "lufs", lambda m: integrated_lufs(m, self.sample_rate))

    def reference_lufs(self) -> float:
        """Integrated loudness of the reference, memoised."""
        return self.reference_value("lufs", lambda r: integrated_lufs(r, self.sample_rate))


@runtime_checkable
class RewardTerm(Protocol):
    """A reward term: ``score`` is higher for better mixes and always finite."""

    name: str
    needs_reference: bool

    def score(self, mix: np.ndarray, context: ScoreContext) -> float:
        """Score ``mix`` (``(channels, samples)``) in ``context``."""
        ...
