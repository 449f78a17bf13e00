"""What a trained agent's run folder holds, whatever library trained it (stable-baselines3 or RLlib), and how a run
records the start policy it learnt to refine so that its env can begin from that start again."""

from __future__ import annotations

import importlib
import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from agents.envs import acting_env_kwargs
from mixenv.env import InitialPolicy, MixEnv

StartFactory = Callable[[], InitialPolicy]
"""What makes a start policy: a class or a module-level function of no arguments, importable by its name."""


def start_reference(factory: StartFactory) -> str:
    """``module:name`` of a start policy's factory: what a run records to make its start again (:func:`make_start`).

    Raises:
        ValueError: If ``factory`` cannot be imported by that name (a lambda, a local function, a method, or
            anything of a script run as ``__main__``).
    """
    reference = f"{factory.__module__}:{factory.__qualname__}"
    module = importlib.import_module(factory.__module__)
    if factory.__module__ == "__main__" or getattr(module, factory.__qualname__, None) is not factory:
        raise ValueError(f"a start factory must be importable by name (a module-level class or function): {reference}")
    return reference


def make_start(reference: str) -> InitialPolicy:
    """The start policy a :func:`start_reference` names, made anew."""
    module, _, name = reference.partition(":")
    factory: StartFactory = getattr(importlib.import_module(module), name)
    return factory()


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

    def start_policy(self) -> InitialPolicy | None:
        """The policy whose settings begin the agent's episodes, made anew from the factory its run recorded; None
        for an agent that starts where the env does (neutral settings, unless its env arguments say otherwise).

        Raises:
            ValueError: If the run names its start without its factory (trained before runs recorded it).
        """
        if self.config.get("start") is None:
            return None
        if "start_factory" not in self.config:
            raise ValueError(
                f"{self.name} refines the settings of {self.config['start']!r}, but its run does not record how to "
                "make that start; make its env with policy.env(split, initial_settings=that policy), or train it again"
            )
        return make_start(self.config["start_factory"])

    def env(self, split: str, **overrides: Any) -> MixEnv:
        """A MixEnv on ``split`` that observes what the agent was trained on (its observation format above all) and
        starts its episodes where the agent's training did (:meth:`start_policy`).

        Training-only arguments are left out: an agent trained on remixes is evaluated on the songs' own mixes.
        """
        kwargs = acting_env_kwargs(self.env_kwargs)
        if "initial_settings" not in overrides and (start := self.start_policy()) is not None:
            kwargs["initial_settings"] = start
        return MixEnv(**(kwargs | overrides | {"split": split}))

    def check_observation(self, env: MixEnv) -> None:
        """Raise ValueError if ``env`` observes another format than the agent was trained on."""
        trained = self.env_kwargs.get("observation", "logmel")
        observed = getattr(env.unwrapped, "observation", trained)  # other envs have one format
        if observed != trained:
            raise ValueError(
                f"{self.name} was trained on {trained!r} observations but this MixEnv observes {observed!r}; make "
                "the env with policy.env(split), which uses the training env's arguments"
            )
