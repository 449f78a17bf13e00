"""Episodes of any mixing policy in MixEnv, measured: the interface every method is evaluated through
(:class:`MixPolicy`), one song's episode (:func:`evaluate_song`), a split's (:func:`evaluate_policy`) and the mean
final score the training callbacks validate on (:func:`validation_score`).

Every song of a split is one episode from a fixed seed (``seed + index``), so the same policy and seed give the
same numbers. The final mix of the episode is measured by :meth:`mixenv.env.MixEnv.measure`
(:func:`rewards.metrics.clip_metrics`). Below the command line (:mod:`agents.evaluate`) and the trained agents'
adapters (:mod:`agents.policies`, :mod:`agents.rllib`), which all use it.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol

import numpy as np
from tqdm.auto import tqdm

from agents.algorithms import predict
from mixenv.data.atomic import write_json
from mixenv.env import MixEnv, episode_limit
from rewards.metrics import MetricSuite


class MixPolicy(Protocol):
    """Anything that mixes: a trained agent, a heuristic, a supervised model."""

    name: str

    def reset(self, env: MixEnv) -> None:
        """A new episode has started in ``env``."""
        ...

    def act(self, observation: dict[str, np.ndarray], env: MixEnv) -> np.ndarray:
        """The full normalised settings vector for this step."""
        ...


def evaluate_policy(
    policy: MixPolicy,
    env: MixEnv,
    *,
    episodes: int | None = None,
    seed: int = 0,
    suite: MetricSuite | None = None,
    progress: bool = False,
) -> list[dict[str, Any]]:
    """Run one episode per song of ``env``'s split (the first ``episodes`` songs) and measure each final mix.

    Each row holds the song, its episode's seed, the return and final score, the final normalised settings
    (``settings``: :func:`agents.evaluate.rescore` measures them again) and every metric.

    Args:
        policy: The method.
        env: The env it mixes in.
        episodes: Evaluate only the first this-many songs.
        seed: Episode ``i`` is reset with ``seed + i``.
        suite: The metrics (default: the env's own reward terms).
        progress: Show a progress bar.
    """
    names = [s.name for s in env.songs][:episodes]
    songs = tqdm(names, desc=f"evaluating {policy.name}", unit="song", disable=not progress)
    return [evaluate_song(policy, env, name, seed + index, suite) for index, name in enumerate(songs)]


def evaluate_song(
    policy: MixPolicy, env: MixEnv, song: str, episode_seed: int, suite: MetricSuite | None = None
) -> dict[str, Any]:
    """One row of :func:`evaluate_policy`: ``policy``'s episode on ``song``, reset with ``episode_seed``.

    A row depends on nothing but its arguments, so the songs of a split can be evaluated in any order or on
    other machines (``experiments.benchmark --engine``).
    """
    obs, info = env.reset(seed=episode_seed, options={"song": song})
    policy.reset(env)
    total = 0.0
    for _ in range(episode_limit(env)):
        obs, reward, terminated, truncated, info = env.step(policy.act(obs, env))
        total += reward
        if terminated or truncated:
            break
    final = env.unwrapped.current_settings.normalized().tolist()  # what was mixed, to re-score it later
    row = {"song": song, "episode_seed": episode_seed, "return": total, "score": info["score"], "settings": final}
    return row | env.unwrapped.measure(suite)


def validation_score(policy: MixPolicy, env: MixEnv, episodes: int, seed: int) -> dict[str, float]:
    """Mean final score, return and MRSTFT of ``policy`` over validation episodes (for training callbacks: the
    stable-baselines3 ones with :class:`ModelPolicy`, RLlib's with its module)."""
    rows = evaluate_policy(policy, env, episodes=episodes, seed=seed)
    out = {"score": float(np.mean([r["score"] for r in rows])), "return": float(np.mean([r["return"] for r in rows]))}
    if all("mrstft" in r for r in rows):
        out["mrstft"] = float(np.mean([r["mrstft"] for r in rows]))
    return out


class ValidationLog:
    """A training run's validation results, kept in ``out / "validation.json"``, and its best model so far (the
    highest mean final score): one bookkeeping for the stable-baselines3 callback and RLlib's loop."""

    def __init__(self, out: Path) -> None:
        self.path = out / "validation.json"
        self.best = -np.inf
        self.history: list[dict[str, float]] = []

    def add(self, result: dict[str, float], save_best: Callable[[], None]) -> None:
        """Record ``result``; if its ``score`` is the best so far, ``save_best()`` keeps the model first."""
        self.history.append(result)
        if result["score"] > self.best:
            self.best = result["score"]
            save_best()
        write_json(self.path, self.history)


class ModelPolicy:
    """A stable-baselines3 model being trained, as a :class:`MixPolicy` (deterministic actions)."""

    name = "agent"

    def __init__(self, model: Any) -> None:
        self.model = model

    def reset(self, env: MixEnv) -> None:
        """Nothing to reset: the model keeps no per-episode state."""

    def act(self, observation: dict[str, np.ndarray], env: MixEnv) -> np.ndarray:
        return predict(self.model, observation, env.unwrapped.observation_space)
