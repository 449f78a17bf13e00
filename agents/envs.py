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


TRAINING_ONLY = frozenset({"remix"})
"""Env arguments that shape the training data, not what the agent observes."""


def acting_env_kwargs(kwargs: dict[str, Any]) -> dict[str, Any]:
    """The env an agent acts in (validation, evaluation): its training env's arguments without the training-only
    ones, so an agent trained on remixes acts on the songs' own mixes."""
    return {k: v for k, v in kwargs.items() if k not in TRAINING_ONLY}


TRAINING_CLIP_SECONDS = 2.0
"""The training clip on embedding observations: a 2 s clip steps 1.9x as fast as the env's 4 s one
(``experiments.bench_env``), and the clip embeddings an agent observes have the same size at any length."""


def training_env_kwargs(args: TrainArgs) -> dict[str, Any]:
    """The training envs' keyword arguments: :func:`env_kwargs_for` the train split, with the training clip.

    Raises:
        ValueError: If a training clip other than the env's is asked of log-mel observations (their image size
            depends on the clip, so the agent could not act in the evaluation env).
    """
    kwargs = env_kwargs_for(args, "train")
    if args.env != MIXENV_ID:
        return kwargs
    own = float(kwargs.get("clip_seconds", 4.0))
    if kwargs.get("observation", "logmel") != "embedding":
        if args.train_clip_seconds not in (None, own):
            raise ValueError(
                f"--train-clip-seconds {args.train_clip_seconds} differs from the env's clip ({own} s), but log-mel "
                "observations are as long as the clip; train on embeddings (--backbone frozen) or leave it out"
            )
        return kwargs
    return kwargs | {"clip_seconds": args.train_clip_seconds or min(own, TRAINING_CLIP_SECONDS)}


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
