"""The one interface every mixing method is evaluated through, and its adapter for trained SB3 agents.

A policy is told when an episode starts (``reset(env)``: heuristics may look at ``env.clip``, the raw stems and
reference, as an engineer would listen to them) and is asked for the full settings vector at every step
(``act(observation, env)``). Trained agents use only the observation.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from agents.algorithms import ALGORITHMS
from mixenv.env import MixEnv


class MixPolicy(Protocol):
    """Anything that mixes: a trained agent, a heuristic, a supervised model."""

    name: str

    def reset(self, env: MixEnv) -> None:
        """A new episode has started in ``env``."""
        ...

    def act(self, observation: dict[str, np.ndarray], env: MixEnv) -> np.ndarray:
        """The full normalised settings vector for this step."""
        ...


class AgentPolicy:
    """A trained stable-baselines3 agent from its run folder (``best_model.zip`` if there is one).

    Args:
        run: The folder written by ``python -m agents.<algo> --out RUN``.
        best: Prefer the best model on validation over the final one.

    Raises:
        FileNotFoundError: If the folder has no ``config.json`` or no model file.
    """

    def __init__(self, run: str | os.PathLike[str], best: bool = True) -> None:
        run = Path(run)
        config_file = run / "config.json"
        if not config_file.is_file():
            raise FileNotFoundError(
                f"{run} is not a training run (no config.json); train one with python -m agents.ppo --out {run}"
            )
        self.config: dict[str, Any] = json.loads(config_file.read_text(encoding="utf-8"))
        candidates = [run / "best_model.zip", run / "model.zip"] if best else [run / "model.zip"]
        model_file = next((c for c in candidates if c.is_file()), None)
        if model_file is None:
            raise FileNotFoundError(f"{run} holds no model.zip or best_model.zip; the run did not finish")
        self.model = ALGORITHMS[self.config["algo"]].load(model_file, device="cpu")
        self.model_file = model_file
        self.name = f"{self.config['algo']} ({run.name})"

    @property
    def env_kwargs(self) -> dict[str, Any]:
        """The env keyword arguments the agent was trained with (its observation format among them)."""
        return dict(self.config["env_kwargs"])

    def env(self, split: str, **overrides: Any) -> MixEnv:
        """A MixEnv on ``split`` that observes what the agent was trained on (its observation format above all)."""
        return MixEnv(**(self.env_kwargs | overrides | {"split": split}))

    def reset(self, env: MixEnv) -> None:
        """Check that ``env`` observes what the agent was trained on (agents keep no per-episode state).

        Raises:
            ValueError: If the env's observation format differs from the training env's.
        """
        trained = self.env_kwargs.get("observation", "logmel")
        if env.unwrapped.observation != trained:
            raise ValueError(
                f"{self.name} was trained on {trained!r} observations but this MixEnv observes "
                f"{env.unwrapped.observation!r}; make the env with policy.env(split), which uses the training "
                "env's arguments"
            )

    def act(self, observation: dict[str, np.ndarray], env: MixEnv) -> np.ndarray:
        action, _ = self.model.predict(observation, deterministic=True)
        return np.asarray(action, dtype=np.float32)
