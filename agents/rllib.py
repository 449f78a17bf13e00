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
``Algorithm.from_checkpoint``), ``best/`` (the RLModule that scored best on validation, as ``agents.ppo`` keeps
``best_model.zip``), ``validation.json`` and ``training.json`` (per-iteration steps, mean return, steps per second).
:class:`RLlibPolicy` restores only the RLModule (no Ray cluster; the best one if there is one) and acts with the
distribution's mean.

The policy is agents.ppo's: a Gaussian whose log standard deviation is a free parameter (not an output of the
network) starting at :data:`agents.algorithms.PPO_LOG_STD_INIT`, so both engines begin exploring alike.
"""

from __future__ import annotations

import argparse
import contextlib
import platform
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import gymnasium as gym
import numpy as np
import torch
from tqdm.auto import tqdm

import mixenv
from agents.algorithms import PPO_LOG_STD_INIT, discount
from agents.args import MIXENV_ID, TrainArgs, check_patience, parse_into
from agents.envs import acting_env_kwargs, env_kwargs_for, training_env_kwargs
from agents.episodes import ValidationLog, validation_score
from agents.trained import TrainedAgent
from mixenv.cliargs import HelpFormatter
from mixenv.data.atomic import replacing_dir, write_json
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
BEST = "best"
"""The run folder's best RLModule on validation (``RLModule.save_to_path``)."""
SAMPLE_TIMEOUT_S = 600.0
"""How long an iteration waits for the env runners' samples. RLlib's 60 s default discards a slow runner's samples
without an error, and MixEnv renders and scores every step: on a loaded 2-core machine (a test run beside a
benchmark, 2026-12-06) two runners' 64 steps each took longer, and the iteration sampled nothing."""


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
    backbone_path: str | None = field(default=None, metadata={"help": "backbone checkpoint (default: the shipped one)"})
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
    log_std_init: float = field(
        default=PPO_LOG_STD_INIT, metadata={"help": "initial log standard deviation of the actions (agents.ppo's)"}
    )
    eval_freq: int = field(
        default=2_000, metadata={"help": "validate every this many env steps, keeping the best module (0: never)"}
    )
    eval_episodes: int = field(default=8, metadata={"help": "validation episodes (one per song)"})
    patience: int = field(
        default=0,
        metadata={
            "help": "stop once this many validations in a row have not beaten the best (as agents.<algo>'s "
            "--patience; 0: train for --steps)"
        },
    )
    eval_split: str = field(default="val", metadata={"help": "split validated on (small collections may lack val)"})
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
            eval_freq=self.eval_freq,
            eval_episodes=self.eval_episodes,
            eval_split=self.eval_split,
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
    if args.steps < 1 or args.num_env_runners < 0 or args.num_epochs < 1 or args.eval_freq < 0:
        parser.error("--steps and --num-epochs must be at least 1, --num-env-runners and --eval-freq at least 0")
    check_patience(parser, args.patience, args.eval_freq)
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
    """``PPOConfig.training``'s arguments: agents.ppo's PPO (its discount, :func:`agents.algorithms.discount`,
    learning rate and entropy, and stable-baselines3's GAE lambda, value-loss weight and gradient clipping, with no
    KL penalty: RLlib's defaults of lambda 1, a KL term and no clipping scored -0.74 at the first validation where
    these score +0.18, seed 0), the batch sizes of ``args``, then ``--algo-kwargs``, which win."""
    tuned = {
        "gamma": discount(args.train_args()),
        "lr": args.learning_rate,
        "train_batch_size_per_learner": args.batch,
        "minibatch_size": args.minibatch,
        "num_epochs": args.num_epochs,
        "entropy_coeff": 0.0,
        "clip_param": 0.2,
        "lambda_": 0.95,
        "use_kl_loss": False,
        "vf_loss_coeff": 0.5,
        "grad_clip": 0.5,
        "grad_clip_by": "global_norm",
    }
    return tuned | args.algo_kwargs


def build_config(args: RLlibArgs, training: dict[str, Any]) -> AlgorithmConfig:
    """The RLlib algorithm config: new API stack, torch, ``args.num_env_runners`` runners of one CPU and one env
    each (their samples awaited :data:`SAMPLE_TIMEOUT_S`), a local learner (:func:`_learner_module` reads its
    module), agents.ppo's hyper-parameters (discount, learning rate, 256x256 tanh MLP, a free log standard
    deviation; :func:`_start_like_agents_ppo`)."""
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
        .env_runners(
            num_env_runners=args.num_env_runners,
            num_envs_per_env_runner=1,
            num_cpus_per_env_runner=1,
            sample_timeout_s=SAMPLE_TIMEOUT_S,
        )
        .learners(num_learners=0)
        .training(**training_kwargs(args))
        .rl_module(
            model_config=DefaultModelConfig(fcnet_hiddens=[256, 256], fcnet_activation="tanh", free_log_std=True)
        )
        .debugging(seed=args.seed, log_level="WARN")
        .reporting(metrics_num_episodes_for_smoothing=20)
    )


def _iterate(
    algo: Algorithm, steps: int, bar: tqdm, after: Callable[[int], bool] | None = None
) -> list[dict[str, float]]:
    """``algo.train()`` until ``steps`` more env steps are sampled; one record per iteration. ``after`` is called
    with the steps done after each iteration (validation) and stops the loop early by returning True."""
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
        if after is not None and after(done):
            break
    return history


def _learner_module(algo: Algorithm) -> RLModule:
    """The RLModule the learner trains, as it is now (the local learner's own object: :func:`build_config` makes
    no remote learners)."""
    from ray.rllib.core import DEFAULT_MODULE_ID

    results = algo.learner_group.foreach_learner(lambda learner: learner.module[DEFAULT_MODULE_ID])
    return next(iter(results)).get()


def _start_like_agents_ppo(algo: Algorithm, log_std: float) -> None:
    """Start the policy where agents.ppo's starts, in the learner and every env runner: the free log standard
    deviation at ``log_std``, and the action layer's weights scaled to a hundredth with zero bias (stable-baselines3
    initialises it orthogonally with gain 0.01), so the first actions sit near the middle of the box.

    RLlib starts the log std at 0 (std 1 in normalised units, a third of the actions clipped to the range ends) and
    the action layer at PyTorch's default scale, which spreads the first means over about ±0.5: its first
    validations scored far below the neutral mix (-0.74 after 2 048 steps, seed 0, with the log std alone fixed).
    """
    module = _learner_module(algo)
    layer = module.pi.net.mlp[-1]
    with torch.no_grad():
        module.pi.log_std.fill_(log_std)
        layer.weight.mul_(0.01)
        layer.bias.zero_()
    algo.env_runner_group.sync_weights(from_worker_or_learner_group=algo.learner_group, inference_only=True)


class _Validation:
    """Every ``eval_freq`` env steps: the learner's module validated on ``env`` (mean final score over
    ``eval_episodes`` songs), the best one kept in ``out / BEST`` and every result in ``validation.json``; says to
    stop once ``patience`` validations in a row have not beaten the best."""

    def __init__(self, algo: Algorithm, env: MixEnv, args: RLlibArgs, flatten: bool, out: Path) -> None:
        self.algo, self.env, self.args, self.flatten, self.out = algo, env, args, flatten, out
        self.next = args.eval_freq
        self.log = ValidationLog(out, args.patience)

    def __call__(self, done: int) -> bool:
        """Validate if ``done`` steps reach the next check; whether training should stop."""
        if done < self.next:
            return False
        self.next = (done // self.args.eval_freq + 1) * self.args.eval_freq
        module = _learner_module(self.algo)
        policy = _ModulePolicy(module, self.flatten)
        result = {"timesteps": done, **validation_score(policy, self.env, self.args.eval_episodes, self.args.seed)}

        def save_best() -> None:
            with replacing_dir(self.out / BEST) as tmp:
                module.save_to_path(tmp)

        self.log.add(result, save_best)
        return self.log.exhausted


class _ModulePolicy:
    """An RLModule acting deterministically (:func:`mean_action`), as a :class:`~agents.policies.MixPolicy`."""

    name = "agent"

    def __init__(self, module: RLModule, flatten: bool) -> None:
        self.module, self.flatten = module, flatten

    def reset(self, env: MixEnv) -> None:
        """Nothing to reset: the module keeps no per-episode state."""

    def act(self, observation: Any, env: MixEnv) -> np.ndarray:
        return mean_action(self.module, observation, env, self.flatten)


def mean_action(module: RLModule, observation: Any, env: gym.Env, flatten: bool) -> np.ndarray:
    """``module``'s deterministic action for ``observation`` of ``env``: the action distribution's mean, mapped to
    the action space as RLlib's env runners do (``unsquash_action``: clipped to its bounds); the observation is
    flattened first if the module was trained on flattened ones."""
    from ray.rllib.core.columns import Columns
    from ray.rllib.utils.spaces.space_utils import unsquash_action

    space = env.unwrapped.observation_space
    flat = gym.spaces.flatten(space, observation) if flatten and _flattens(space) else np.asarray(observation)
    batch = {Columns.OBS: torch.as_tensor(flat[None], dtype=torch.float32)}
    with torch.no_grad():
        outputs = module.forward_inference(batch)
        dist = module.get_inference_action_dist_cls().from_logits(outputs[Columns.ACTION_DIST_INPUTS])
        mean = dist.to_deterministic().sample()[0].numpy()
    return np.asarray(unsquash_action(mean, env.unwrapped.action_space), dtype=np.float32)


def _build_artifacts(args: RLlibArgs, acting: dict[str, Any]) -> None:
    """Make the acting env once in the driver, so missing default artefacts (:mod:`mixenv.artifacts`) are built here
    once, not by every env runner at the same time. On a cluster each node still needs them."""
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
                "log_std_init": args.log_std_init,
                "validation": {"every": args.eval_freq, "episodes": args.eval_episodes, "split": args.eval_split},
                "versions": {
                    "mixenv": mixenv.__version__,
                    "ray": ray.__version__,
                    "torch": torch.__version__,
                    "python": platform.python_version(),
                },
            },
        )
        with _algorithm(config) as algo:
            _start_like_agents_ppo(algo, args.log_std_init)
            validate = None
            if args.eval_freq and args.env == MIXENV_ID:  # validated on the songs' own mixes, as it is evaluated
                validation_env = MixEnv(**acting_env_kwargs(env_kwargs_for(args.train_args(), args.eval_split)))
                validate = _Validation(algo, validation_env, args, config.env_config["flatten"], out)
            start = time.perf_counter()
            with tqdm(
                total=args.steps, desc=f"training RLlib {args.algo}", unit="step", disable=not args.progress
            ) as bar:
                history = _iterate(algo, args.steps, bar, validate)
            seconds = time.perf_counter() - start
            with replacing_dir(out / CHECKPOINT) as tmp:
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

    Restores only the RLModule (no Ray cluster is started): the best on validation (``best/``) if there is one and
    ``best`` is set, else the final one; acts deterministically (:func:`mean_action`).

    Args:
        run: The run folder.
        best: Prefer the best module on validation over the final one.

    Raises:
        FileNotFoundError: If the folder has no ``config.json`` or no checkpoint.
        ImportError: If Ray RLlib is not installed.
    """

    def __init__(self, run: str | Path, best: bool = True) -> None:
        super().__init__(run, "agents.rllib")
        final = self.run.joinpath(CHECKPOINT, *MODULE_PATH)
        candidates = [self.run / BEST, final] if best else [final]
        module_dir = next((c for c in candidates if c.is_dir()), None)
        if module_dir is None:
            raise FileNotFoundError(
                f"{self.run} holds no RLlib checkpoint ({final} is missing); the run did not finish"
            )
        import_ray()
        from ray.rllib.core.rl_module.rl_module import RLModule

        self.module: RLModule = RLModule.from_checkpoint(module_dir.resolve())  # absolute paths only
        self.module.eval()
        self.module_dir = module_dir
        self.name = f"RLlib {self.name}"

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
        return mean_action(self.module, observation, env, self.config.get("flatten_observations", True))


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
