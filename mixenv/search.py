"""CMA-ES over normalised settings: the search that heuristics, refinements and the compressors' reading share.

A budget counts calls of the loss (each one render and score, as a rule), and the search returns the best point it
scored; seeded, so the same seed finds the same point."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import cma
import numpy as np


def search(
    loss: Callable[[np.ndarray], float],
    start: np.ndarray,
    budget: int,
    sigma: float,
    seed: int,
    *,
    keep_start: bool = False,
) -> np.ndarray:
    """The best normalised settings CMA-ES finds for ``loss`` (one render and score per call as a rule:
    :func:`agents.heuristics.env_loss`, ``mixenv mix``'s excerpts of a song, a compressor reading's fit) from
    ``start`` within ``budget`` calls; with ``keep_start`` the start is scored too (one of the calls) and wins ties."""
    return search_scored(loss, start, budget, sigma, seed, keep_start=keep_start)[0]


def search_scored(
    loss: Callable[[np.ndarray], float],
    start: np.ndarray,
    budget: int,
    sigma: float,
    seed: int,
    *,
    keep_start: bool,
) -> tuple[np.ndarray, float]:
    """:func:`search`, with the loss of what it returns (infinite if nothing was scored)."""
    start = np.clip(np.asarray(start, dtype=np.float64), -1.0, 1.0)
    start_loss = loss(start) if keep_start else np.inf
    best, best_loss = search_generations(
        lambda candidates: [loss(x) for x in candidates], start, budget - int(keep_start), sigma, seed
    )
    if start_loss <= best_loss:
        return start, start_loss
    return best, best_loss


def search_generations(
    score: Callable[[Sequence[np.ndarray]], Sequence[float]],
    start: np.ndarray,
    budget: int,
    sigma: float,
    seed: int,
) -> tuple[np.ndarray, float]:
    """The CMA-ES of :func:`search_scored` (the start not scored), each generation's candidates scored by one call
    of ``score`` (their losses in their order), so a caller may score them together, in threads."""
    start = np.clip(np.asarray(start, dtype=np.float64), -1.0, 1.0)
    # pycma stops once it has evaluated MORE than maxfevals, so a budget of whole generations ran one more.
    options = {"bounds": [-1.0, 1.0], "maxfevals": max(budget - 1, 1), "seed": seed + 1, "verbose": -9}
    strategy = cma.CMAEvolutionStrategy(start, sigma, options)
    while not strategy.stop():
        candidates = strategy.ask()
        strategy.tell(candidates, list(score(candidates)))
    best, best_loss = strategy.result.xbest, strategy.result.fbest
    if best is None:
        return start, np.inf
    return np.asarray(best), best_loss


def remembered(loss: Callable[[np.ndarray], float]) -> Callable[[np.ndarray], float]:
    """``loss`` that scores each distinct point once (as float64): a start a search scores again, already scored
    when it was chosen, costs no render. The loss must be deterministic, as a render and its score are."""
    seen: dict[bytes, float] = {}

    def cached(x: np.ndarray) -> float:
        key = np.asarray(x, dtype=np.float64).tobytes()
        if key not in seen:
            seen[key] = loss(x)
        return seen[key]

    return cached
