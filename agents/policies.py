"""Policies for the interface every mixing method is evaluated through (:class:`agents.episodes.MixPolicy`): the
adapter for trained SB3 agents, the loader of any trained agent's run, and a wrapper that masters any method's mix
to the reference's loudness.

A policy is told when an episode starts (``reset(env)``: heuristics may look at ``env.clip``, the raw stems and
reference, as an engineer would listen to them) and is asked for the full settings vector at every step
(``act(observation, env)``). Trained agents use only the observation.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np

from agents.algorithms import ALGORITHMS, predict
from agents.episodes import MixPolicy
from agents.heuristics import matched_on_env
from agents.trained import TrainedAgent
from mixenv.env import MixEnv


class AgentPolicy(TrainedAgent):
    """A trained stable-baselines3 agent from its run folder (``best_model.zip`` if there is one).

    Args:
        run: The folder written by ``python -m agents.<algo> --out RUN``.
        best: Prefer the best model on validation over the final one.

    Raises:
        FileNotFoundError: If the folder has no ``config.json`` or no model file.
    """

    def __init__(self, run: str | os.PathLike[str], best: bool = True) -> None:
        super().__init__(run, "agents.ppo")
        run = self.run
        candidates = [run / "best_model.zip", run / "model.zip"] if best else [run / "model.zip"]
        model_file = next((c for c in candidates if c.is_file()), None)
        if model_file is None:
            raise FileNotFoundError(f"{run} holds no model.zip or best_model.zip; the run did not finish")
        self.model = ALGORITHMS[self.config["algo"]].load(model_file, device="cpu")
        self.model_file = model_file

    def reset(self, env: MixEnv) -> None:
        """Check that ``env`` observes what the agent was trained on (agents keep no per-episode state).

        Raises:
            ValueError: If the env's observation format differs from the training env's, or the agent was trained
                to refine a start policy's settings and ``env`` starts from neutral or random ones.
        """
        start = self.config.get("start")
        if start is not None and isinstance(env.unwrapped.initial_settings, str):
            raise ValueError(
                f"{self.name} was trained to refine the settings of {start!r}, but this MixEnv starts from "
                f"{env.unwrapped.initial_settings!r}; make it with policy.env(split), which starts from the run's start"
            )
        self.check_observation(env)

    def act(self, observation: dict[str, np.ndarray], env: MixEnv) -> np.ndarray:
        return predict(self.model, observation, env.unwrapped.observation_space)


def load_agent(run: str | os.PathLike[str]) -> TrainedAgent:
    """The trained agent in a run folder: an :class:`AgentPolicy` (stable-baselines3), or an
    :class:`agents.rllib.RLlibPolicy` when its ``config.json`` says ``"engine": "rllib"`` (Ray is imported only then).

    Raises:
        FileNotFoundError: If the folder has no ``config.json`` or no model or checkpoint.
        ImportError: For an RLlib run without Ray installed.
    """
    config_file = Path(run) / "config.json"
    if config_file.is_file() and json.loads(config_file.read_text(encoding="utf-8")).get("engine") == "rllib":
        from agents.rllib import RLlibPolicy

        return RLlibPolicy(run)
    return AgentPolicy(run)


class LoudnessMatchedPolicy:
    """Another policy's settings at every step, mastered to the reference's loudness (``target_lufs`` without one).

    The limiter drives up to 12 dB and the faders do the rest (:func:`mixenv.mastering.drive_to_loudness`), on the
    very mix the env renders: what a supervised model gets from :class:`supervised.predictors.LoudnessMatched`,
    for any method, so every method can be compared with the loudness the reference states taken as given.
    With ``match_stems``, each stem's EQ, fader and pan are first matched to how it sounds in the reference
    (:func:`mixenv.balance.match_stems`, four more renders): how loud each stem is, its tone and where it sits are,
    like the loudness, something the reference shows rather than something to guess. Without a reference each fader
    is set by the loudness-balance convention instead, on the stem as its strip plays it (one more render).

    Args:
        policy: The policy whose settings are mastered.
        target_lufs: The loudness without a reference, or for a policy that mixes without one.
        use_reference: Read the loudness off the reference; ``False`` masters to ``target_lufs`` (reference-free).
        match_stems: Match each stem's tone, fader and pan to the reference first (without one: its fader to the
            loudness-balance convention).
    """

    def __init__(
        self, policy: MixPolicy, target_lufs: float = -14.0, use_reference: bool = True, match_stems: bool = False
    ) -> None:
        self.policy, self.target_lufs, self.use_reference = policy, target_lufs, use_reference
        self.match_stems = match_stems
        matched = ("balance, tone and " if use_reference else "balance and ") if match_stems else ""
        self.name = f"{policy.name}, {matched}loudness matched"
        self._last: tuple[bytes, np.ndarray] | None = None

    def reset(self, env: MixEnv) -> None:
        self.policy.reset(env)
        self._last = None

    def act(self, observation: dict[str, np.ndarray], env: MixEnv) -> np.ndarray:
        action = np.asarray(self.policy.act(observation, env), dtype=np.float32)
        if self._last is not None and self._last[0] == action.tobytes():  # a fixed policy repeats itself
            return self._last[1].copy()
        base = env.unwrapped
        settings = base.space.to_physical(action)
        matched = matched_on_env(
            base, settings, self.target_lufs, use_reference=self.use_reference, match_stems=self.match_stems
        )
        self._last = (action.tobytes(), matched.normalized())
        return self._last[1].copy()
