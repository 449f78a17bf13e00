"""The reward-term interface and the context that lets terms share work.

A term is a small object with a ``name`` and ``score(mix, context) -> float`` where higher is better; it says
whether it needs a reference. A :class:`ScoreContext` holds one reference (or none) and the stems the mixes are
made from (or none) for as long as they stay the same (an env episode) and memoises what terms derive from them
(the reference's STFT magnitudes, its loudness, the stems' summary),
plus what they derive from the current mix (its loudness, its backbone embedding), so FAD and anomaly share
one forward pass and nothing about the reference is computed twice.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, Protocol, TypeVar, runtime_checkable

import numpy as np

from mixenv.loudness import integrated_lufs

T = TypeVar("T")


class ScoreContext:
    """Per-reference and per-stems memos plus a memo for the latest mix scored against them.

    Args:
        sample_rate: Rate of the mix and the reference, in Hz.
        reference: The reference mix ``(channels, samples)``, or None for reference-free scoring.
        stems: The stems the mixes are made from, role -> ``(channels, samples)`` (the anomaly term judges a mix
            against them), or None.
    """

    def __init__(
        self,
        sample_rate: int,
        reference: np.ndarray | None = None,
        stems: Mapping[str, np.ndarray] | None = None,
    ) -> None:
        self.sample_rate = sample_rate
        self.reference = reference
        self.stems = None if stems is None else dict(stems)  # a plain dict pickles (a song's stems are read-only)
        self._reference_memo: dict[str, Any] = {}
        self._stems_memo: dict[str, Any] = {}
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

    def stems_value(self, key: str, compute: Callable[[Mapping[str, np.ndarray]], T]) -> T:
        """``compute(stems)``, computed once per context.

        Raises:
            ValueError: If the context has no stems.
        """
        if self.stems is None:
            raise ValueError(
                f"{key} needs the stems the mix was made from, but this context has none; "
                "pass them as ScoreContext(rate, reference, stems)"
            )
        if key not in self._stems_memo:
            self._stems_memo[key] = compute(self.stems)
        return self._stems_memo[key]

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
