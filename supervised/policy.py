"""A trained supervised model as a :class:`~agents.policies.MixPolicy`, to run in MixEnv beside agents and heuristics.

The model reads the env's log-mel observation (``observation="logmel"``, the default): the uint8 images go back
to [-1, 1] with :func:`mixenv.features.from_uint8`. It decides once per episode, from the first observation it is
shown after ``reset`` (where the settings are still neutral, so the observed stems are the raw stems it was
trained on), and repeats those settings at every step, like the heuristics.

>>> from agents.evaluate import evaluate_policy  # doctest: +SKIP
>>> rows = evaluate_policy(SupervisedPolicy("runs/cnn"), MixEnv(split="test"))  # doctest: +SKIP
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

import numpy as np
import torch

from mixenv.features import from_uint8
from supervised.checkpoint import LoadedModel, load_model
from supervised.inputs import InputError, ModelInputs

if TYPE_CHECKING:
    from mixenv.env import MixEnv


class SupervisedPolicy:
    """Predicts the settings from the episode's first observation and holds them.

    Args:
        model: A loaded model, or its checkpoint file or run folder.
        use_reference: Show the model the reference when the env observes one; ``False`` mixes reference-free.
        name: Name in tables (default: ``supervised <model name>``).

    Raises:
        FileNotFoundError: If there is no checkpoint at the path.
    """

    def __init__(
        self, model: LoadedModel | str | os.PathLike[str], *, use_reference: bool = True, name: str | None = None
    ) -> None:
        self.loaded = model if isinstance(model, LoadedModel) else load_model(model)
        self.model = self.loaded.model.eval()
        self.use_reference = use_reference
        self.name = name or f"supervised {self.model.config.name}" + ("" if use_reference else " (no reference)")
        self.action: np.ndarray | None = None

    def reset(self, env: MixEnv) -> None:
        """Check that ``env`` shows what the model reads, and forget the last episode's settings.

        Raises:
            InputError: If the env observes embeddings, starts from random settings, or has other roles.
        """
        env = env.unwrapped  # gymnasium.make wraps the env
        if env.observation != "logmel":
            raise InputError(
                f"the supervised policy reads log-mel observations, but this MixEnv observes {env.observation!r}; "
                "make it with observation='logmel' (the default)"
            )
        if env.initial_settings != "neutral":
            raise InputError(
                "the supervised policy reads the raw stems in the first observation, but this MixEnv starts from "
                f"{env.initial_settings!r} settings; make it with initial_settings='neutral' (the default)"
            )
        if env.space != self.model.space:
            raise InputError(
                f"the env mixes roles {env.space.roles} but the model was trained on {self.model.space.roles}; "
                "make the env with roles=" + repr(self.model.space.roles)
            )
        self.action = None

    def act(self, observation: dict[str, np.ndarray], env: MixEnv) -> np.ndarray:
        """The settings predicted from the first observation after ``reset``, at every step."""
        if self.action is None:
            self.action = self.predict(observation)
        return self.action.copy()

    def predict(self, observation: dict[str, np.ndarray]) -> np.ndarray:
        """Settings ``(params,)`` float32 for one MixEnv log-mel observation."""
        if np.asarray(observation["stems"]).dtype != np.uint8:
            raise InputError("expected MixEnv's uint8 log-mel observation; make the env with observation='logmel'")
        reference = observation.get("reference") if self.use_reference else None
        inputs = ModelInputs(
            from_uint8(observation["stems"])[None],
            torch.as_tensor(observation["presence"], dtype=torch.float32)[None],
            None if reference is None else from_uint8(reference)[None],
        )
        with torch.inference_mode():
            return self.model(*inputs)[0].numpy()
