"""How the agents make their environments: the keyword arguments, the thunk with its wrapper stack, vectorisation."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import gymnasium as gym
import torch
from stable_baselines3.common.monitor import Monitor
from stable_baselines3.common.vec_env import DummyVecEnv, SubprocVecEnv, VecEnv

from agents.args import MIXENV_ID, TrainArgs


def env_kwargs_for(args: TrainArgs, split: str) -> dict[str, Any]:
    """The env's keyword arguments: the user's, plus for MixEnv the split and the observation the backbone needs."""
    if args.env != MIXENV_ID:
        return dict(args.env_kwargs)
    defaults: dict[str, Any] = {"split": split, "observation": "embedding" if args.backbone == "frozen" else "logmel"}
    if args.backbone_path is not None:
        defaults["backbone_path"] = args.backbone_path
    return defaults | args.env_kwargs | {"split": split}


def make_env(
    env_id: str, env_kwargs: dict[str, Any], seed: int, rank: int, flatten: bool = False
) -> Callable[[], gym.Env]:
    """A thunk building env number ``rank``: one torch thread, the env (its observation flattened to one vector if
    ``flatten``), a Monitor for episode statistics."""

    def thunk() -> gym.Env:
        torch.set_num_threads(1)  # each worker gets one core; more threads only contend
        env = gym.make(env_id, **env_kwargs)
        if flatten:
            env = gym.wrappers.FlattenObservation(env)
        env = Monitor(env)
        env.action_space.seed(seed + rank)
        return env

    return thunk


def make_vec_env(env_id: str, env_kwargs: dict[str, Any], n_envs: int, seed: int, flatten: bool = False) -> VecEnv:
    """``n_envs`` seeded envs (observations flattened if ``flatten``): in this process for one, in spawned
    subprocesses for more."""
    thunks = [make_env(env_id, env_kwargs, seed, rank, flatten) for rank in range(n_envs)]
    vec: VecEnv = DummyVecEnv(thunks) if n_envs == 1 else SubprocVecEnv(thunks, start_method="spawn")
    vec.seed(seed)
    return vec
