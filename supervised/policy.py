"""A trained supervised model as a :class:`~agents.policies.MixPolicy`, to run in MixEnv beside agents and heuristics.

The model decides once per episode and repeats those settings at every step, like the heuristics. It reads the
episode's clip (:attr:`mixenv.env.MixEnv.clip`: the raw stems and the reference, as a heuristic or an engineer would
hear them) through the very code of :class:`supervised.predictors.ModelPredictor` (exported:
:class:`supervised.onnx_predictor.OnnxPredictor`), so a model acts in MixEnv exactly as it is evaluated. It does not
read the log-mel observation: that shows the stems through the neutral strip, whose 20 Hz high-pass moves the lowest
bands by up to 18 dB, and the model's reference matching (:mod:`mixenv.match`) would read that as EQ. So
any MixEnv works, whatever it observes.

>>> from agents.episodes import evaluate_policy  # doctest: +SKIP
>>> rows = evaluate_policy(SupervisedPolicy("runs/cnn"), MixEnv(split="test"))  # doctest: +SKIP
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

import numpy as np

from supervised.checkpoint import LoadedModel
from supervised.inputs import InputError
from supervised.runtimes import load_predictor

if TYPE_CHECKING:
    from mixenv.env import MixEnv


class SupervisedPolicy:
    """Predicts the settings from the episode's clip and holds them.

    Args:
        model: A loaded model, or its checkpoint file or run folder; for ``runtime="onnx"`` an exported ``.onnx`` file.
        use_reference: Show the model the reference when the song has one; ``False`` mixes reference-free.
        name: Name in tables (default: ``supervised <model name>``).
        runtime: What runs the model (:data:`supervised.runtimes.RUNTIMES`): torch, or onnxruntime.

    Raises:
        FileNotFoundError: If there is no checkpoint at the path.
        ValueError: For an unknown runtime or an unreadable ONNX file.
    """

    def __init__(
        self,
        model: LoadedModel | str | os.PathLike[str],
        *,
        use_reference: bool = True,
        name: str | None = None,
        runtime: str = "torch",
    ) -> None:
        self.predictor = load_predictor(model, runtime, use_reference=use_reference)
        self.name = name or f"supervised {self.predictor.name}"
        self.action: np.ndarray | None = None

    def reset(self, env: MixEnv) -> None:
        """Check that ``env`` mixes the model's roles, and forget the last episode's settings.

        Raises:
            InputError: If the env has other roles.
        """
        env = env.unwrapped  # gymnasium.make wraps the env
        if env.space != self.predictor.space:
            raise InputError(
                f"the env mixes roles {env.space.roles} but the model was trained on {self.predictor.space.roles}; "
                "make the env with roles=" + repr(self.predictor.space.roles)
            )
        self.action = None

    def act(self, observation: dict[str, np.ndarray], env: MixEnv) -> np.ndarray:
        """The settings predicted from the episode's clip, the same at every step of the episode."""
        if self.action is None:
            self.action = self.predictor.predict([env.unwrapped.clip])[0]
        return self.action.copy()
