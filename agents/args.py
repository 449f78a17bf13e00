"""The arguments of ``python -m agents.<algo>``: a typed dataclass that is also the command line (``--help``)."""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import gymnasium as gym

import mixenv  # noqa: F401  (registers MixEnv-v0, so --env can name it)
from mixenv.cliargs import HelpFormatter, add_dataclass_arguments, dataclass_from_namespace

MIXENV_ID = "MixEnv-v0"


@dataclass
class TrainArgs:
    """Arguments of ``python -m agents.<algo>``; each field's ``help`` is its command-line help."""

    env: str = field(default=MIXENV_ID, metadata={"help": "any registered Gymnasium id (mixenv is imported)"})
    total_timesteps: int = field(default=20_000, metadata={"help": "environment steps to train for"})
    seed: int = field(default=0, metadata={"help": "seeds the envs, the networks and the exploration"})
    n_envs: int = field(default=1, metadata={"help": "parallel envs; more than 1 runs them in subprocesses"})
    env_kwargs: dict[str, Any] = field(
        default_factory=dict, metadata={"help": "env keyword arguments as key=value (values parsed as Python)"}
    )
    out: Path | None = field(
        default=None, metadata={"help": "run folder (default: runs/<env>__<algo>__<seed>__<time>)"}
    )
    device: str = field(default="cpu", metadata={"help": "torch device of the learner: cpu, cuda, auto"})
    backbone: str = field(
        default="frozen",
        metadata={"help": "frozen (embeddings from the env) or finetune", "choices": ("frozen", "finetune")},
    )
    backbone_path: str | None = field(default=None, metadata={"help": "backbone checkpoint (default: the shipped one)"})
    eval_freq: int = field(default=2_000, metadata={"help": "validate every this many env steps (0: never)"})
    eval_episodes: int = field(default=8, metadata={"help": "validation episodes (one per song)"})
    patience: int = field(
        default=0,
        metadata={
            "help": "stop training once this many validations in a row have not beaten the best (the best model is "
            "kept either way; 0: train for --total-timesteps). Agents on MixEnv peak early and fall: at 4, the RL "
            "benchmark's runs of 2026-12-05 would have kept the same models with 22%% fewer steps"
        },
    )
    eval_split: str = field(default="val", metadata={"help": "split validated on (small collections may lack val)"})
    train_clip_seconds: float | None = field(
        default=None,
        metadata={
            "help": "clip length of the training envs; default: 2 s on embedding observations (which do not depend "
            "on the clip's length: half the render and scoring work a step), the env's own clip on log-mels. "
            "Validation and evaluation always use the env's clip (4 s unless --env-kwargs clip_seconds=...)"
        },
    )
    learning_rate: float | None = field(
        default=None, metadata={"help": "learning rate (default: 1e-4 for PPO, 3e-4 for SAC and TD3)"}
    )
    algo_kwargs: dict[str, Any] = field(
        default_factory=dict,
        metadata={"help": "other algorithm arguments as key=value, e.g. n_steps=128 batch_size=32"},
    )
    imitate: int = field(
        default=0,
        metadata={
            "help": "before reinforcement learning, fit the policy's action to the ground-truth settings on this many "
            "demonstration episodes of the train split (early-stopped on the validation split; agents.imitation). "
            "0: start from an untrained policy"
        },
    )
    best_of_episode: bool = field(
        default=False,
        metadata={
            "help": "validate on each episode's best-scoring render, the start included "
            "(agents.episodes.BestOfEpisode), and keep the model that proposes the best mixes: for an agent used in "
            "that form, such as one refining a start policy's settings, which must never end worse than its start"
        },
    )
    progress: bool = field(default=True, metadata={"help": "show a progress bar", "no_help": "hide the progress bar"})


def parse_args(algo: str, argv: Sequence[str] | None = None) -> TrainArgs:
    """Parse the command line of ``python -m agents.<algo>`` into :class:`TrainArgs`."""
    parser = argparse.ArgumentParser(
        prog=f"python -m agents.{algo}",
        description=f"Train {algo} (stable-baselines3 / sb3-contrib) on MixEnv-v0 or any Gymnasium env, with the "
        "shared backbone as features extractor; validates periodically and keeps the best model.",
        formatter_class=HelpFormatter,
    )
    args = parse_into(TrainArgs, parser, argv)
    if args.n_envs < 1 or args.total_timesteps < 1:
        parser.error("--n-envs and --total-timesteps must be at least 1")
    if args.imitate < 0 or (args.imitate and args.env != MIXENV_ID):
        parser.error(f"--imitate takes a number of episodes >= 0 and needs {MIXENV_ID}'s ground-truth settings")
    check_patience(parser, args.patience, args.eval_freq)
    if args.best_of_episode and (not args.eval_freq or args.env != MIXENV_ID):
        parser.error(
            f"--best-of-episode judges validation episodes by {MIXENV_ID}'s score: it needs that env and "
            "--eval-freq > 0"
        )
    return args


def check_patience(parser: argparse.ArgumentParser, patience: int, eval_freq: int) -> None:
    """Refuse through ``parser.error`` a ``--patience`` below 0, or one without validations to count."""
    if patience < 0 or (patience and not eval_freq):
        parser.error("--patience counts validations: it takes a number >= 0 and needs --eval-freq > 0")


T = TypeVar("T")


def parse_into(cls: type[T], parser: argparse.ArgumentParser, argv: Sequence[str] | None) -> T:
    """Parse ``argv`` into the dataclass ``cls`` (its fields become ``parser``'s arguments) and check its ``env``
    is a registered Gymnasium id; what is wrong exits through ``parser.error``."""
    add_dataclass_arguments(parser, cls)
    namespace = parser.parse_args(argv)
    try:
        args = dataclass_from_namespace(cls, namespace)
    except ValueError as err:
        parser.error(str(err))
    if args.env not in gym.registry:
        parser.error(
            f"unknown env id {args.env!r}; registered ids include {MIXENV_ID!r} (see gymnasium.pprint_registry())"
        )
    return args
