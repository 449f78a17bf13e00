"""A weighted sum of reward terms, with every term reported and no NaN ever leaving it."""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping

import numpy as np

from rewards.base import RewardTerm, ScoreContext

log = logging.getLogger(__name__)

TERM_FLOOR = -1e3
"""A term that fails to give a finite score (it should never happen) scores this instead, with a warning."""


class CompositeReward:
    """``sum(weight * term.score)`` over named terms; higher is better.

    Args:
        terms: Term -> weight. Weights must be finite and non-negative; a zero-weight term is still reported.
    """

    def __init__(self, terms: Mapping[RewardTerm, float]) -> None:
        if not terms:
            raise ValueError("a composite reward needs at least one term")
        names = [t.name for t in terms]
        if len(set(names)) != len(names):
            raise ValueError(f"reward term names must be unique, got {names}")
        for term, weight in terms.items():
            if not (math.isfinite(weight) and weight >= 0):
                raise ValueError(f"weight of {term.name!r} must be finite and >= 0, got {weight}")
        self.weights = {t.name: float(w) for t, w in terms.items()}
        self.terms: tuple[RewardTerm, ...] = tuple(terms)

    @property
    def needs_reference(self) -> bool:
        """Whether any weighted term needs a reference mix."""
        return any(t.needs_reference and self.weights[t.name] > 0 for t in self.terms)

    @property
    def names(self) -> tuple[str, ...]:
        """Term names, in order."""
        return tuple(t.name for t in self.terms)

    def scores(self, mix: np.ndarray, context: ScoreContext) -> dict[str, float]:
        """Each term's score for ``mix``, finite."""
        scores = {}
        for term in self.terms:
            value = float(term.score(mix, context))
            if not math.isfinite(value):
                log.warning("reward term %r gave %s; scoring it %g", term.name, value, TERM_FLOOR)
                value = TERM_FLOOR
            scores[term.name] = max(value, TERM_FLOOR)
        return scores

    def total(self, scores: Mapping[str, float]) -> float:
        """The weighted sum of term scores as returned by :meth:`scores`."""
        return sum(self.weights[name] * value for name, value in scores.items())

    def score(self, mix: np.ndarray, context: ScoreContext) -> float:
        """The weighted sum for ``mix``."""
        return self.total(self.scores(mix, context))
