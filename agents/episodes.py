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
    """Anything that mixes: a trained agent, a heuristic, a supervised model.

    A policy whose ``keeps_best`` attribute is true (:class:`BestOfEpisode`) ends its episode on the best-scoring
    mix it rendered rather than on the last one (:func:`evaluate_song`).
    """

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
    other machines (``experiments.benchmark --engine``). For a policy that ``keeps_best`` the row is the episode's
    best-scoring mix, the start's included (``best_step``: 0 for the start, ``i`` for the ``i``-th step's).
    """
    obs, info = env.reset(seed=episode_seed, options={"song": song})
    base, keeps_best = env.unwrapped, getattr(policy, "keeps_best", False)
    start = best = info["score"]
    chosen, best_step = (base.current_mix, base.current_settings), 0
    policy.reset(env)
    for step in range(1, episode_limit(env) + 1):
        obs, _, terminated, truncated, info = env.step(policy.act(obs, env))
        if info["score"] > best or not keeps_best:  # the last step's mix, unless the policy keeps its best
            best, chosen, best_step = info["score"], (base.current_mix, base.current_settings), step
        if terminated or truncated:
            break
    settings = chosen[1].normalized().tolist()  # what was mixed, to re-score it later
    row = {"song": song, "episode_seed": episode_seed, "return": best - start, "score": best, "settings": settings}
    if keeps_best:
        row["best_step"] = best_step
    return row | base.measure(suite, chosen)


BEST_OF_EPISODE = "best of its renders"
"""What :class:`BestOfEpisode` adds to a policy's name."""


class BestOfEpisode:
    """Another policy whose episode ends on the best mix it rendered by the env's own score, its start included.

    The policy proposes a mix at every step and the score, which the env computes at every step anyway, picks
    among them, as a search keeps its best candidate: no render more, and an agent that refines a start is never
    worse by the score than that start. The reward an agent learns from is unchanged; only where its evaluation
    episode ends is (:func:`evaluate_song`).
    """

    keeps_best = True

    def __init__(self, policy: MixPolicy) -> None:
        self.policy = policy
        self.name = f"{policy.name}, {BEST_OF_EPISODE}"

    def reset(self, env: MixEnv) -> None:
        self.policy.reset(env)

    def act(self, observation: dict[str, np.ndarray], env: MixEnv) -> np.ndarray:
        return self.policy.act(observation, env)


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
    highest mean final score): one bookkeeping for the stable-baselines3 callback and RLlib's loop.

    Args:
        out: The run folder.
        patience: Validations in a row without a new best after which :attr:`exhausted` says to stop (0: never).
    """

    def __init__(self, out: Path, patience: int = 0) -> None:
        self.path = out / "validation.json"
        self.best = -np.inf
        self.history: list[dict[str, float]] = []
        self.patience = patience
        self.stale = 0
        """Validations since the best one."""

    def add(self, result: dict[str, float], save_best: Callable[[], None]) -> None:
        """Record ``result``; if its ``score`` is the best so far, ``save_best()`` keeps the model first."""
        self.history.append(result)
        if result["score"] > self.best:
            self.best, self.stale = result["score"], 0
            save_best()
        else:
            self.stale += 1
        write_json(self.path, self.history)

    @property
    def exhausted(self) -> bool:
        """Whether ``patience`` validations in a row have not beaten the best: training on would only find a
        better model if the agent recovered from a longer fall than that (never with patience 0)."""
        return 0 < self.patience <= self.stale


class ModelPolicy:
    """A stable-baselines3 model being trained, as a :class:`MixPolicy` (deterministic actions)."""

    name = "agent"

    def __init__(self, model: Any) -> None:
        self.model = model

    def reset(self, env: MixEnv) -> None:
        """Nothing to reset: the model keeps no per-episode state."""

    def act(self, observation: dict[str, np.ndarray], env: MixEnv) -> np.ndarray:
        return predict(self.model, observation, env.unwrapped.observation_space)
