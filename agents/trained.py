"""What a trained agent's run folder holds, whatever library trained it (stable-baselines3 or RLlib)."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from agents.envs import acting_env_kwargs
from mixenv.env import MixEnv


class TrainedAgent:
    """What every trained agent's run folder gives, whatever trained it: its ``config.json``, the env it acts in,
    and the check that an env observes what it was trained on.

    Args:
        run: The run folder.
        trainer: The module that writes such folders (named in the error).

    Raises:
        FileNotFoundError: If the folder has no ``config.json``.
    """

    def __init__(self, run: str | os.PathLike[str], trainer: str) -> None:
        self.run = Path(run)
        config_file = self.run / "config.json"
        if not config_file.is_file():
            raise FileNotFoundError(
                f"{self.run} is not a training run (no config.json); train one with python -m {trainer} --out {run}"
            )
        self.config: dict[str, Any] = json.loads(config_file.read_text(encoding="utf-8"))
        self.name = f"{self.config['algo']} ({self.run.name})"

    @property
    def env_kwargs(self) -> dict[str, Any]:
        """The keyword arguments of the env the agent acts in (its observation format among them)."""
        return dict(self.config["env_kwargs"])

    def env(self, split: str, **overrides: Any) -> MixEnv:
        """A MixEnv on ``split`` that observes what the agent was trained on (its observation format above all).

        Training-only arguments are left out: an agent trained on remixes is evaluated on the songs' own mixes.
        """
        return MixEnv(**(acting_env_kwargs(self.env_kwargs) | overrides | {"split": split}))

    def check_observation(self, env: MixEnv) -> None:
        """Raise ValueError if ``env`` observes another format than the agent was trained on."""
        trained = self.env_kwargs.get("observation", "logmel")
        observed = getattr(env.unwrapped, "observation", trained)  # other envs have one format
        if observed != trained:
            raise ValueError(
                f"{self.name} was trained on {trained!r} observations but this MixEnv observes {observed!r}; make "
                "the env with policy.env(split), which uses the training env's arguments"
            )
