"""TD3's policy with a quadratic action penalty in its actor's objective: what keeps TD3's actor off the corners of
MixEnv's 41-dimensional box.

TD3's deterministic actor climbs its first critic's gradient in the action (``-Q1(s, pi(s))``; stable-baselines3
calls ``q1_forward`` for that and for nothing else). Fitted on a few thousand actions, the critic extrapolates
toward where it has no data, and the actor ran to the box's corners under every fix tried on the critic (layer
norm, ten critics, eight updates per step, TD3+BC: the table in docs/benchmark_rl.md). SAC, TQC and CrossQ do not,
because their actors also climb an entropy term, which is highest at the middle of the box.
:class:`PenalisedCritic` gives TD3 the deterministic counterpart: the actor climbs ``Q1(s, a) - penalty *
mean(a**2)``. The critics themselves, their targets and everything TD3 stores are unchanged, so a trained model
loads and acts like any TD3 model.
"""

from __future__ import annotations

from typing import Any

import torch
from stable_baselines3.common.policies import ContinuousCritic
from stable_baselines3.common.torch_layers import BaseFeaturesExtractor
from stable_baselines3.td3.policies import MultiInputPolicy, TD3Policy

ACTION_PENALTY = 20.0
"""Weight of the mean squared normalised action in TD3's actor objective, on rewards divided by their running
spread (:data:`agents.algorithms.NORMALIZED_REWARDS`). Chosen on the validation split (2 s training clips, seed 0,
one env, validation return after 1 000-5 000 steps; 0 is the neutral mix, the box's middle reads -0.18): 1 still
runs to the corners (-1.02, -0.64, -0.71, -0.79, -0.59), 5 learns slowly (0.16, 0.16, 0.12, 0.19, 0.23), 20 best
(0.20, 0.45, 0.40, 0.37, 0.34), 70 later (0.09, 0.26, 0.37, 0.37)."""


class PenalisedCritic(ContinuousCritic):
    """TD3's twin critics, whose first head as the actor reads it (``q1_forward``) is lowered by ``penalty`` times
    the mean squared action; the values every critic fits (``forward``) are the plain Q-values."""

    def __init__(self, *args: Any, penalty: float = ACTION_PENALTY, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.penalty = penalty

    def q1_forward(self, obs: torch.Tensor, actions: torch.Tensor) -> torch.Tensor:
        """What TD3's actor maximises: the first critic's value less the action penalty, ``(batch, 1)``."""
        return super().q1_forward(obs, actions) - self.penalty * actions.pow(2).mean(dim=1, keepdim=True)


class _Penalised:
    """Mixin for a TD3 policy: its critic is a :class:`PenalisedCritic` of weight ``action_penalty``."""

    def __init__(self, *args: Any, action_penalty: float = ACTION_PENALTY, **kwargs: Any) -> None:
        self.action_penalty = action_penalty  # read by make_critic, which the parent's __init__ calls
        super().__init__(*args, **kwargs)

    def make_critic(self, features_extractor: BaseFeaturesExtractor | None = None) -> ContinuousCritic:
        critic_kwargs = self._update_features_extractor(self.critic_kwargs, features_extractor)  # type: ignore[attr-defined]
        return PenalisedCritic(**critic_kwargs, penalty=self.action_penalty).to(self.device)  # type: ignore[attr-defined]

    def _get_constructor_parameters(self) -> dict[str, Any]:
        return super()._get_constructor_parameters() | {"action_penalty": self.action_penalty}  # type: ignore[misc]


class PenalisedTD3Policy(_Penalised, TD3Policy):
    """TD3's policy for flat observations, with the action penalty (:class:`PenalisedCritic`)."""


class PenalisedMultiInputPolicy(_Penalised, MultiInputPolicy):
    """TD3's policy for Dict observations (MixEnv's), with the action penalty (:class:`PenalisedCritic`)."""
