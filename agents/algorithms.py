"""The algorithms the agents train, and the hyper-parameters that make them learn on MixEnv's short episodes."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from gymnasium import spaces
from sb3_contrib import TQC, CrossQ
from stable_baselines3 import PPO, SAC, TD3
from stable_baselines3.common.base_class import BaseAlgorithm
from stable_baselines3.common.noise import NormalActionNoise
from stable_baselines3.common.vec_env import VecEnv, VecNormalize

from agents.args import TrainArgs
from agents.extractor import BackboneExtractor
from agents.td3_policy import PenalisedMultiInputPolicy, PenalisedTD3Policy

ALGORITHMS: dict[str, type[BaseAlgorithm]] = {"ppo": PPO, "sac": SAC, "td3": TD3, "tqc": TQC, "crossq": CrossQ}
"""Every entry point's algorithm: stable-baselines3's PPO, SAC and TD3, and sb3-contrib's TQC (truncated quantile
critics) and CrossQ (batch-normalised critics, no target network), the two made against critic over-estimation."""
FLAT_OBSERVATIONS = frozenset({"crossq"})
"""Algorithms whose policies take only a flat vector (sb3-contrib's CrossQ has no multi-input policy): they train on
MixEnv's embedding observation flattened (gymnasium's ``FlattenObservation``) and act through :func:`predict`."""

NORMALIZED_REWARDS = frozenset({"sac", "tqc", "crossq", "td3"})
"""Algorithms that learn from rewards divided by their running standard deviation (:func:`with_rewards_scaled`).

SAC's entropy coefficient starts at 1, sized for rewards of about one; MixEnv's are a few tenths, so the entropy
term outweighed the critic in the actor's loss and held its actions near the middle of the box. Scaled, SAC's
validation return (2 s training clips, seed 0) reads 0.09 / 0.13 / 0.14 / 0.01 after 1 000-4 000 steps against
0.06 / -0.09 / -0.31 / -0.56 on the raw rewards (seed 1: 0.05 / 0.11 / 0.09 after 1 000-3 000). TQC's actor
carries the same entropy term: scaled, it validates above the neutral mix from 1 000 to 6 000 steps, peaking at
0.16 / 0.15 (seeds 0 / 1, 4 000 / 6 000 steps) where on raw rewards it fell from -0.03 to -0.29 within 3 000;
CrossQ's rises from -0.44 before any update to 0.15 at 5 000 steps (seed 0, 2 envs) where on raw rewards (and
the former discount of 0.9) it stayed at -0.79 to -0.89. TD3, which has no entropy term, still ran to the box's
corners with it (-2.77 at 1 000 steps) until its actor's objective was given a penalty in the entropy's place
(:mod:`agents.td3_policy`, whose weight is sized for the scaled rewards)."""

PPO_LOG_STD_INIT = -1.0
"""PPO's initial exploration spread, std 0.37 in normalised units: SB3's std 1 clips a third of the actions to
the range ends, so early rollouts hear mostly extreme mixes and the reward says little about the policy mean."""


def discount(args: TrainArgs) -> float:
    """The discount for the env's action mode: 0 for absolute actions, 0.9 for moves (``action_mode="delta"``).

    With absolute actions the next mix depends on the action alone, not on the state it was taken in, and a step's
    reward is the score's change, so ``Q(s, a) = (1 - gamma) * score(a) + terms that do not depend on a``: at the
    former default of 0.9 the part of Q that tells actions apart is a tenth of the targets the critic must fit.
    With 0 it is all of it (each step is a bandit on the clip). PPO after 4 000 steps, validation return on 2 s
    clips: 0.20 and 0.28 with gamma 0 against 0.06 and -0.04 with 0.9 (seeds 0 and 1). A move's effect lasts, so
    delta episodes keep a horizon.
    """
    return 0.9 if args.env_kwargs.get("action_mode", "absolute") == "delta" else 0.0


def algorithm_kwargs(algo: str, args: TrainArgs, action_space: spaces.Box) -> dict[str, Any]:
    """Hyper-parameters for short CPU budgets on 10-step mixing episodes (the discount of :func:`discount`), then
    the user's ``--algo-kwargs``, which win."""
    common: dict[str, Any] = {"gamma": discount(args), "seed": args.seed, "device": args.device, "verbose": 0}
    if algo == "ppo":
        # SB3's 3e-4 moved the policy by an approximate KL of 0.2-1.2 per update here and its returns fell below
        # the neutral mix's; 1e-4 with a smaller initial spread (log_std_init, in build_model) improves steadily.
        tuned = {
            "n_steps": max(16, 256 // args.n_envs),
            "batch_size": 64,
            "n_epochs": 10,
            "ent_coef": 0.0,
            "learning_rate": 1e-4,
        }
    else:
        tuned = {"buffer_size": 50_000, "learning_starts": 500, "batch_size": 128, "train_freq": 1}
    if algo == "td3":
        tuned["action_noise"] = NormalActionNoise(np.zeros(action_space.shape), 0.2 * np.ones(action_space.shape))
    given = {} if args.learning_rate is None else {"learning_rate": args.learning_rate}
    return common | tuned | given | args.algo_kwargs


def with_rewards_scaled(algo: str, args: TrainArgs, env: VecEnv) -> VecEnv:
    """The training env of ``algo``: for :data:`NORMALIZED_REWARDS`, ``env`` with its rewards divided by the running
    standard deviation of their return under the algorithm's discount (:func:`discount`, or the user's ``gamma``;
    SB3's ``VecNormalize``, observations untouched, so nothing needs saving beside the model); otherwise ``env``."""
    if algo not in NORMALIZED_REWARDS:
        return env
    gamma = float(args.algo_kwargs.get("gamma", discount(args)))
    return VecNormalize(env, norm_obs=False, norm_reward=True, gamma=gamma)


def predict(model: BaseAlgorithm, observation: dict[str, np.ndarray], space: spaces.Space) -> np.ndarray:
    """The model's deterministic action for an observation of ``space`` (flattened first for a model trained on
    flat observations, as those of :data:`FLAT_OBSERVATIONS` are)."""
    if isinstance(model.observation_space, spaces.Box) and isinstance(observation, dict):
        observation = spaces.flatten(space, observation)
    action, _ = model.predict(observation, deterministic=True)
    return np.asarray(action, dtype=np.float32)


def policy_for(algo: str, args: TrainArgs, observation_space: spaces.Space) -> tuple[str | type, dict[str, Any]]:
    """The stable-baselines3 policy (its name, or for TD3 the class with the action penalty of
    :mod:`agents.td3_policy`) and its keyword arguments: the backbone extractor for MixEnv's observations, two
    hidden layers of 256."""
    dict_observations = isinstance(observation_space, spaces.Dict)
    policy: str | type = "MultiInputPolicy" if dict_observations else "MlpPolicy"
    if algo == "td3":
        policy = PenalisedMultiInputPolicy if dict_observations else PenalisedTD3Policy
    policy_kwargs: dict[str, Any] = {"net_arch": [256, 256]}
    if algo == "ppo":
        policy_kwargs["log_std_init"] = PPO_LOG_STD_INIT
    if dict_observations and "mix" in observation_space.spaces:
        policy_kwargs |= {
            "features_extractor_class": BackboneExtractor,
            "features_extractor_kwargs": {"backbone_path": args.backbone_path, "freeze": args.backbone == "frozen"},
            "normalize_images": False,  # the extractor maps uint8 log-mel back to [-1, 1] itself
        }
        if algo != "ppo":
            policy_kwargs["share_features_extractor"] = True
    return policy, policy_kwargs


def build_model(algo: str, args: TrainArgs, env: VecEnv) -> BaseAlgorithm:
    """The stable-baselines3 model, with the backbone extractor for MixEnv's observations; with delta actions,
    PPO's untrained policy keeps the settings (:func:`hold_still`)."""
    policy, policy_kwargs = policy_for(algo, args, env.observation_space)
    model = ALGORITHMS[algo](policy, env, policy_kwargs=policy_kwargs, **algorithm_kwargs(algo, args, env.action_space))
    if algo == "ppo" and args.env_kwargs.get("action_mode", "absolute") == "delta":
        hold_still(model)
    return model


def hold_still(model: BaseAlgorithm) -> None:
    """Zero PPO's action layer, so the untrained policy's mean move is exactly nothing.

    With delta actions an episode starts from settings worth keeping (a model's, a heuristic's); SB3's small random
    action layer moves them by a few hundredths a step all the same, and a refining agent trained from there
    scored below its start from its first validation (2026-12-03). Zeroed, it starts by keeping the settings and
    learns moves from there; gradients still reach the layer through its inputs. (That alone did not make the
    refiner beat its start: see docs/benchmark_rl.md.)
    """
    layer = model.policy.action_net
    with torch.no_grad():
        layer.weight.zero_()
        layer.bias.zero_()
