"""Train Ray RLlib's PPO (new API stack, torch) on MixEnv-v0, on one machine or on a Ray cluster.

Usage::

    python -m agents.rllib --algo PPO --env MixEnv-v0 --num-env-runners 2 --steps 20000 --out runs/rllib-ppo
    python -m agents.evaluate --model runs/rllib-ppo --split test

Ray is an optional dependency: ``pip install -e '.[scale]'``. The env is registered with ``ray.tune.register_env``
and built from the same keyword arguments as the stable-baselines3 entry points (:func:`agents.envs.env_kwargs_for`,
:func:`~agents.envs.training_env_kwargs`): the train split, the frozen backbone's embedding observation, the 2 s
training clip. The observation (a Dict) is flattened to one vector with gymnasium's ``FlattenObservation`` in the
env creator, and :class:`RLlibPolicy` flattens it the same way (``gymnasium.spaces.flatten``) to act.

On one machine (the default) it starts a local Ray with ``--num-cpus`` CPUs (default: one per env runner plus one
for the learner). On a cluster::

    ray start --head                    # on the head node
    ray start --address HEAD:6379       # on each worker node
    python -m agents.rllib --address auto --num-env-runners 8 --steps 200000 --out runs/rllib-ppo   # on the head

Every node builds envs, so every node needs the repository installed (``pip install -e '.[scale]'``) and the data
the env reads at the same path: the corpus and the backbone (and the good-mix model) under ``MIXENV_DATA``. Either
run ``mixenv prepare`` on each node with the same ``MIXENV_DATA`` (export it before ``ray start``: env runners
inherit the raylet's environment) or point ``MIXENV_DATA`` (or ``--env-kwargs data_path=... backbone_path=...``)
at a shared file system.

The run folder holds ``config.json`` (algorithm, engine ``"rllib"``, the acting and training env arguments, steps,
seed, env runners, versions), ``checkpoint/`` (``Algorithm.save_to_path``: resume with
``Algorithm.from_checkpoint``) and ``training.json`` (per-iteration steps, mean return, steps per second).
:class:`RLlibPolicy` restores only the RLModule (no Ray cluster) and acts with the distribution's mean.
"""

from __future__ import annotations

import argparse
import contextlib
import platform
import shutil
import sys
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import gymnasium as gym
import numpy as np
import torch
from tqdm.auto import tqdm

import mixenv
from agents.algorithms import discount
from agents.args import MIXENV_ID, TrainArgs, parse_into
from agents.envs import acting_env_kwargs, env_kwargs_for, training_env_kwargs
from agents.trained import TrainedAgent
from mixenv.cliargs import HelpFormatter
from mixenv.data.atomic import atomic_dir, write_json
from mixenv.engines import import_ray, ray_running
from mixenv.env import MixEnv

if TYPE_CHECKING:
    from ray.rllib.algorithms.algorithm import Algorithm
    from ray.rllib.algorithms.algorithm_config import AlgorithmConfig
    from ray.rllib.core.rl_module.rl_module import RLModule

ALGOS = ("PPO",)
"""The RLlib algorithms this entry point configures."""
ENV_NAME = "mixenv-rllib"
"""The name the env creator is registered under with ``ray.tune.register_env``."""
CHECKPOINT = "checkpoint"
"""The run folder's checkpoint (``Algorithm.save_to_path``)."""
MODULE_PATH = ("learner_group", "learner", "rl_module", "default_policy")
"""The RLModule inside a checkpoint: ``RLModule.from_checkpoint(run / CHECKPOINT / *MODULE_PATH)``."""


@dataclass
class RLlibArgs:
    """Arguments of ``python -m agents.rllib``; each field's ``help`` is its command-line help."""

    algo: str = field(default="PPO", metadata={"help": "the RLlib algorithm", "choices": ALGOS})
    env: str = field(default=MIXENV_ID, metadata={"help": "any registered Gymnasium id (mixenv is imported)"})
    steps: int = field(default=20_000, metadata={"help": "environment steps to train for (at least)"})
    seed: int = field(default=0, metadata={"help": "seeds the env runners, the learner and the exploration"})
    num_env_runners: int = field(default=2, metadata={"help": "Ray actors that step envs (0: in the driver)"})
    num_cpus: int | None = field(
        default=None, metadata={"help": "CPUs of the local Ray (default: env runners + 1); not with --address"}
    )
    address: str | None = field(
        default=None, metadata={"help": "join a running Ray cluster: auto or HOST:PORT (default: start a local Ray)"}
    )
    env_kwargs: dict[str, Any] = field(
        default_factory=dict, metadata={"help": "env keyword arguments as key=value (values parsed as Python)"}
    )
    out: Path | None = field(
        default=None, metadata={"help": "run folder (default: runs/<env>__rllib-<algo>__<seed>__<time>)"}
    )
    backbone_path: str | None = field(default=None, metadata={"help": "backbone checkpoint (default: pretrained)"})
    train_clip_seconds: float | None = field(
        default=None, metadata={"help": "clip length of the training envs (default: 2 s, as agents.ppo)"}
    )
    train_batch_size: int | None = field(
        default=None, metadata={"help": "env steps per training iteration (default: min(256, --steps))"}
    )
    minibatch_size: int | None = field(
        default=None, metadata={"help": "SGD minibatch (default: min(64, the train batch))"}
    )
    num_epochs: int = field(default=10, metadata={"help": "SGD passes over each train batch"})
    learning_rate: float = field(default=1e-4, metadata={"help": "learning rate (agents.ppo's tuned 1e-4)"})
    algo_kwargs: dict[str, Any] = field(
        default_factory=dict,
        metadata={"help": "other AlgorithmConfig.training arguments as key=value, e.g. clip_param=0.2"},
    )
    progress: bool = field(default=True, metadata={"help": "show a progress bar", "no_help": "hide the progress bar"})

    @property
    def batch(self) -> int:
        """Env steps per training iteration."""
        return self.train_batch_size or min(256, self.steps)

    @property
    def minibatch(self) -> int:
        """SGD minibatch size."""
        return min(self.minibatch_size or 64, self.batch)

    def train_args(self) -> TrainArgs:
        """The SB3 arguments with the same env: so :mod:`agents.envs` makes the env kwargs for both engines."""
        return TrainArgs(
            env=self.env,
            total_timesteps=self.steps,
            seed=self.seed,
            env_kwargs=dict(self.env_kwargs),
            backbone="frozen",
            backbone_path=self.backbone_path,
            train_clip_seconds=self.train_clip_seconds,
            learning_rate=self.learning_rate,
        )


def parse_args(argv: Sequence[str] | None = None) -> RLlibArgs:
    """Parse the command line of ``python -m agents.rllib`` into :class:`RLlibArgs`."""
    parser = argparse.ArgumentParser(
        prog="python -m agents.rllib",
        description="Train Ray RLlib's PPO (new API stack, torch) on MixEnv-v0's flattened embedding observation, "
        "locally or on a Ray cluster (--address auto); writes config.json and an RLlib checkpoint.",
        formatter_class=HelpFormatter,
    )
    args = parse_into(RLlibArgs, parser, argv)
    if args.steps < 1 or args.num_env_runners < 0 or args.num_epochs < 1:
        parser.error("--steps and --num-epochs must be at least 1, --num-env-runners at least 0")
    if args.address is not None and args.num_cpus is not None:
        parser.error("--num-cpus sizes a local Ray; a cluster joined with --address has its own CPUs")
    return args


def env_creator(env_config: dict[str, Any]) -> gym.Env:
    """The env RLlib's env runners step: ``gymnasium.make(env_id, **env_kwargs)``, its observation flattened.

    ``env_config`` holds ``env_id``, ``env_kwargs`` and ``flatten`` (RLlib adds the runner's index, unused).
    """
    import mixenv  # noqa: F401  (registers MixEnv-v0 in the runner; run as __main__, this function travels by value)

    torch.set_num_threads(1)  # each env runner has one CPU; the backbone's threads would only contend
    env = gym.make(env_config["env_id"], **env_config["env_kwargs"])
    if env_config["flatten"]:
        env = gym.wrappers.FlattenObservation(env)
    return env


def _flattens(space: gym.Space) -> bool:
    return isinstance(space, gym.spaces.Dict | gym.spaces.Tuple)


def run_env_kwargs(args: RLlibArgs) -> tuple[dict[str, Any], dict[str, Any]]:
    """The acting env's and the training envs' keyword arguments (those of ``agents.ppo`` with the same options).

    Raises:
        ValueError: If MixEnv is asked for log-mel observations (the MLP takes the backbone's embeddings).
    """
    train = args.train_args()
    training = training_env_kwargs(train)
    if args.env == MIXENV_ID and training.get("observation") != "embedding":
        raise ValueError(
            "RLlib's agent takes MixEnv's embedding observation (the frozen backbone's), not log-mel images; "
            "leave observation out of --env-kwargs"
        )
    return acting_env_kwargs(env_kwargs_for(train, "train")), training


def training_kwargs(args: RLlibArgs) -> dict[str, Any]:
    """``PPOConfig.training``'s arguments: agents.ppo's discount (:func:`agents.algorithms.discount`), learning rate
    and entropy, the batch sizes of ``args``, then ``--algo-kwargs``, which win."""
    tuned = {
        "gamma": discount(args.train_args()),
        "lr": args.learning_rate,
        "train_batch_size_per_learner": args.batch,
        "minibatch_size": args.minibatch,
        "num_epochs": args.num_epochs,
        "entropy_coeff": 0.0,
        "clip_param": 0.2,
    }
    return tuned | args.algo_kwargs


def build_config(args: RLlibArgs, training: dict[str, Any]) -> AlgorithmConfig:
    """The RLlib algorithm config: new API stack, torch, ``args.num_env_runners`` runners of one CPU and one env
    each, a local learner, agents.ppo's hyper-parameters (discount, learning rate, 256x256 tanh MLP)."""
    import_ray()
    from ray.rllib.algorithms.ppo import PPOConfig
    from ray.rllib.core.rl_module.default_model_config import DefaultModelConfig

    flatten = True  # MixEnv observes a Dict
    if args.env != MIXENV_ID:
        probe = gym.make(args.env, **training)
        flatten = _flattens(probe.observation_space)
        probe.close()
    return (
        PPOConfig()
        .api_stack(enable_rl_module_and_learner=True, enable_env_runner_and_connector_v2=True)
        .framework("torch")
        .environment(ENV_NAME, env_config={"env_id": args.env, "env_kwargs": training, "flatten": flatten})
        .env_runners(num_env_runners=args.num_env_runners, num_envs_per_env_runner=1, num_cpus_per_env_runner=1)
        .learners(num_learners=0)
        .training(**training_kwargs(args))
        .rl_module(model_config=DefaultModelConfig(fcnet_hiddens=[256, 256], fcnet_activation="tanh"))
        .debugging(seed=args.seed, log_level="WARN")
        .reporting(metrics_num_episodes_for_smoothing=20)
    )


def _iterate(algo: Algorithm, steps: int, bar: tqdm) -> list[dict[str, float]]:
    """``algo.train()`` until ``steps`` more env steps are sampled; one record per iteration."""
    from ray.rllib.utils.metrics import (
        ENV_RUNNER_RESULTS,
        EPISODE_RETURN_MEAN,
        LEARNER_UPDATE_TIMER,
        NUM_ENV_STEPS_SAMPLED,
        TIMERS,
    )

    history: list[dict[str, float]] = []
    done = 0
    while done < steps:
        start = time.perf_counter()
        result = algo.train()
        seconds = time.perf_counter() - start
        runners = result.get(ENV_RUNNER_RESULTS, {})
        sampled = int(runners.get(NUM_ENV_STEPS_SAMPLED, 0))
        if sampled <= 0:
            raise RuntimeError(f"an RLlib iteration sampled no env steps: {sorted(runners)}")
        done += sampled
        record = {
            "iteration": len(history) + 1,
            "steps": done,
            "return_mean": float(runners.get(EPISODE_RETURN_MEAN, np.nan)),
            "seconds": seconds,
            "learn_seconds": float(result.get(TIMERS, {}).get(LEARNER_UPDATE_TIMER, np.nan)),
            "steps_per_second": sampled / seconds,
        }
        history.append(record)
        bar.update(min(sampled, max(0, bar.total - bar.n)))
        bar.set_postfix(ret=f"{record['return_mean']:.3f}", sps=f"{record['steps_per_second']:.0f}")
    return history


def _build_artifacts(args: RLlibArgs, acting: dict[str, Any]) -> None:
    """Make the acting env once in the driver, so missing default artefacts (corpus, backbone, good-mix model) are
    built here once, not by every env runner at the same time. On a cluster each node still needs them."""
    if args.env == MIXENV_ID:
        MixEnv(**acting).close()


def run_name(args: RLlibArgs) -> str:
    """CleanRL-style run name: ``env__rllib-algo__seed__unixtime``."""
    return f"{args.env}__rllib-{args.algo.lower()}__{args.seed}__{int(time.time())}"


def train(argv: Sequence[str] | None = None) -> Path:
    """Train as the command line says (:class:`RLlibArgs`) and return the run folder.

    Uses the running Ray if there is one (and leaves it running), else starts one and shuts it down at the end.

    Raises:
        ValueError: If MixEnv is asked for log-mel observations.
        ImportError: If Ray RLlib is not installed.
    """
    args = parse_args(argv)
    acting, training = run_env_kwargs(args)
    import_ray()
    out = (args.out or Path("runs") / run_name(args)).resolve()  # RLlib saves to absolute paths (URIs) only
    out.mkdir(parents=True, exist_ok=True)
    _build_artifacts(args, acting)
    cpus = args.num_cpus if args.num_cpus is not None else args.num_env_runners + 1
    with _ray_with_env(args.address, cpus) as ray:
        config = build_config(args, training)
        write_json(
            out / "config.json",
            {
                "algo": args.algo,
                "engine": "rllib",
                "env": args.env,
                "env_kwargs": acting,  # the env the agent acts in: its evaluation
                "training_env_kwargs": training,
                "flatten_observations": config.env_config["flatten"],
                "steps": args.steps,
                "seed": args.seed,
                "num_env_runners": args.num_env_runners,
                "address": args.address,
                "training": training_kwargs(args),
                "versions": {
                    "mixenv": mixenv.__version__,
                    "ray": ray.__version__,
                    "torch": torch.__version__,
                    "python": platform.python_version(),
                },
            },
        )
        with _algorithm(config) as algo:
            start = time.perf_counter()
            with tqdm(
                total=args.steps, desc=f"training RLlib {args.algo}", unit="step", disable=not args.progress
            ) as bar:
                history = _iterate(algo, args.steps, bar)
            seconds = time.perf_counter() - start
            checkpoint = out / CHECKPOINT
            if checkpoint.exists():
                shutil.rmtree(checkpoint)
            with atomic_dir(checkpoint) as tmp:
                algo.save_to_path(tmp)
        sampled = history[-1]["steps"]
        write_json(
            out / "training.json",
            {"seconds": seconds, "steps": sampled, "steps_per_second": sampled / seconds, "iterations": history},
        )
    return out


def measure_throughput(
    num_env_runners: int,
    steps: int,
    *,
    env_kwargs: dict[str, Any] | None = None,
    iteration_steps: int = 400,
    seed: int = 0,
    num_cpus: int | None = None,
    address: str | None = None,
) -> dict[str, float]:
    """RLlib PPO's env steps per second on MixEnv-v0, sampling and learning (10 epochs of 64-step minibatches)
    together (``steps_per_second``), and its learner's alone (``learner_steps_per_second``: steps learnt from per
    second of update); ``iteration_steps`` a training iteration, timed over ``steps`` steps after one warm-up
    iteration.

    Args:
        num_env_runners: Env runner actors (0: the driver steps the env).
        steps: Env steps timed (whole iterations: at least this many).
        env_kwargs: MixEnv keyword arguments (default: the default corpus, as ``agents.ppo`` trains).
        iteration_steps: The train batch of an iteration.
        seed: The config's seed.
        num_cpus: The local Ray's CPUs (default: env runners + 1); a running Ray is used as it is.
        address: A Ray cluster to join instead.
    """
    args = RLlibArgs(
        steps=steps,
        seed=seed,
        num_env_runners=num_env_runners,
        env_kwargs=dict(env_kwargs or {}),
        train_batch_size=iteration_steps,
        progress=False,
    )
    acting, training = run_env_kwargs(args)
    _build_artifacts(args, acting)
    cpus = num_cpus if num_cpus is not None else num_env_runners + 1
    with _ray_with_env(address, cpus), _algorithm(build_config(args, training)) as algo:
        with tqdm(total=iteration_steps, disable=True) as bar:
            _iterate(algo, 1, bar)  # warm-up: actors started, envs made, first forward passes
        with tqdm(total=steps, disable=True) as bar:
            start = time.perf_counter()
            history = _iterate(algo, steps, bar)
            seconds = time.perf_counter() - start
    learnt = sum(record["learn_seconds"] for record in history)
    sampled = history[-1]["steps"]
    return {"steps_per_second": sampled / seconds, "learner_steps_per_second": sampled / learnt}


@contextlib.contextmanager
def _ray_with_env(address: str | None, num_cpus: int | None) -> Iterator[Any]:
    """Ray running (:func:`mixenv.engines.ray_running`) with MixEnv registered for RLlib under :data:`ENV_NAME`."""
    with ray_running(address, num_cpus) as ray:
        from ray.tune.registry import register_env

        register_env(ENV_NAME, env_creator)
        yield ray


@contextlib.contextmanager
def _algorithm(config: AlgorithmConfig) -> Iterator[Algorithm]:
    """The algorithm ``config`` builds, stopped (its env runners ended) on exit."""
    algo = config.build_algo()
    try:
        yield algo
    finally:
        algo.stop()


class RLlibPolicy(TrainedAgent):
    """An RLlib agent from its run folder (``python -m agents.rllib --out RUN``), as a :class:`MixPolicy`.

    Restores only the RLModule (no Ray cluster is started) and acts deterministically: the action distribution's
    mean, mapped to the action space as RLlib's env runners do (``unsquash_action``: clipped to its bounds).

    Raises:
        FileNotFoundError: If the folder has no ``config.json`` or no checkpoint.
        ImportError: If Ray RLlib is not installed.
    """

    def __init__(self, run: str | Path) -> None:
        super().__init__(run, "agents.rllib")
        run = self.run
        module_dir = run.joinpath(CHECKPOINT, *MODULE_PATH)
        if not module_dir.is_dir():
            raise FileNotFoundError(
                f"{run} holds no RLlib checkpoint ({module_dir} is missing); the run did not finish"
            )
        import_ray()
        from ray.rllib.core.rl_module.rl_module import RLModule

        self.module: RLModule = RLModule.from_checkpoint(module_dir.resolve())  # absolute paths only
        self.module.eval()
        self.name = f"RLlib {self.name}"

    def _flat(self, observation: Any, space: gym.Space) -> np.ndarray:
        if self.config.get("flatten_observations", True) and _flattens(space):
            return gym.spaces.flatten(space, observation)
        return np.asarray(observation)

    def reset(self, env: MixEnv) -> None:
        """Check that ``env`` observes what the agent was trained on (the agent keeps no per-episode state).

        Raises:
            ValueError: If the env's observation format or flattened size differs from the training env's.
        """
        self.check_observation(env)
        space = env.unwrapped.observation_space
        size = gym.spaces.flatdim(space) if _flattens(space) else int(np.prod(space.shape))
        expected = int(np.prod(self.module.observation_space.shape))
        if size != expected:
            raise ValueError(
                f"{self.name} takes observations of {expected} numbers but this env's flatten to {size}; "
                "make the env with policy.env(split)"
            )

    def act(self, observation: dict[str, np.ndarray], env: MixEnv) -> np.ndarray:
        """The mean action for ``observation``, clipped to the env's action space."""
        from ray.rllib.core.columns import Columns
        from ray.rllib.utils.spaces.space_utils import unsquash_action

        flat = self._flat(observation, env.unwrapped.observation_space)
        batch = {Columns.OBS: torch.as_tensor(flat[None], dtype=torch.float32)}
        with torch.no_grad():
            outputs = self.module.forward_inference(batch)
            dist = self.module.get_inference_action_dist_cls().from_logits(outputs[Columns.ACTION_DIST_INPUTS])
            mean = dist.to_deterministic().sample()[0].numpy()
        space = env.unwrapped.action_space
        return np.asarray(unsquash_action(mean, space), dtype=np.float32)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``python -m agents.rllib``."""
    try:
        out = train(argv)
    except ImportError as err:
        print(f"python -m agents.rllib: error: {err}", file=sys.stderr)
        return 2
    except ValueError as err:
        print(f"python -m agents.rllib: error: {err}", file=sys.stderr)
        return 2
    print(f"trained RLlib PPO; checkpoint, config and logs in {out}", file=sys.stderr)
    print(f"evaluate it with: python -m agents.evaluate --model {out} --split test", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
