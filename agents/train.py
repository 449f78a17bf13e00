"""Training any of the agents, readable top to bottom: what ``python -m agents.ppo`` (sac, td3) runs.

* :class:`~agents.args.TrainArgs`: the typed arguments, which are also the command line (``--help``).
* :func:`~agents.envs.make_env`: the thunk that builds one environment, the wrapper stack in plain sight.
* :class:`~agents.extractor.BackboneExtractor`: the shared backbone as a features extractor, frozen or fine-tuned.
* :mod:`agents.algorithms`: the algorithm table and the hyper-parameters tuned for MixEnv.
* :func:`train` (here): seeding in one place, vectorised envs, periodic validation that keeps the best model, atomic
  checkpoints, a progress bar and CSV logs.

Frozen (the default), MixEnv observes backbone embeddings computed once per step in the env's own process
(``observation="embedding"``), and the extractor only concatenates them: the same features as running the
frozen backbone in the learner, without recomputing them for every minibatch of every epoch. Fine-tuned, the
env observes log-mel images and the extractor runs (and trains) the backbone on them.
"""

from __future__ import annotations

import dataclasses
import platform
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import torch
from stable_baselines3.common.base_class import BaseAlgorithm
from stable_baselines3.common.callbacks import BaseCallback, CallbackList
from stable_baselines3.common.logger import configure
from tqdm.auto import tqdm

import mixenv
from agents.algorithms import FLAT_OBSERVATIONS, build_model, with_rewards_scaled
from agents.args import MIXENV_ID, TrainArgs, parse_args
from agents.envs import acting_env_kwargs, env_kwargs_for, make_vec_env, training_env_kwargs
from agents.episodes import BestOfEpisode, ModelPolicy, ValidationLog, validation_score
from agents.imitation import demonstrations, imitate
from agents.trained import StartFactory, start_reference
from mixenv.data.atomic import atomic_path, write_json
from mixenv.env import MixEnv


def save_model(model: BaseAlgorithm, path: Path) -> None:
    """``model.save`` under a temporary name, renamed when complete."""
    with atomic_path(path) as tmp:
        model.save(tmp)


class _Progress(BaseCallback):
    """A tqdm bar over environment steps (SB3's own needs the rich package)."""

    def __init__(self, total: int, enabled: bool) -> None:
        super().__init__()
        self.bar = tqdm(total=total, desc="training", unit="step", disable=not enabled)

    def _on_step(self) -> bool:
        self.bar.update(
            min(self.training_env.num_envs, self.bar.total - self.bar.n)
        )  # PPO may overshoot to a full rollout
        return True

    def _on_training_end(self) -> None:
        self.bar.close()


class _Validation(BaseCallback):
    """Before training and every ``every`` steps, evaluate on the validation split; keep the best model (highest
    mean final score; with ``--best-of-episode``, the highest mean score of each episode's best render); stop
    training once ``patience`` validations in a row have not beaten it (:class:`~agents.episodes.ValidationLog`)."""

    def __init__(
        self, every: int, evaluate: Callable[[BaseAlgorithm], dict[str, float]], out: Path, patience: int = 0
    ) -> None:
        super().__init__()
        self.every, self.evaluate, self.out = every, evaluate, out
        self.log = ValidationLog(out, patience)
        self._next = every

    def _on_training_start(self) -> None:
        self._validate()  # the policy before any update (untrained, or imitated): the curve's first point

    def _on_step(self) -> bool:
        if self.every and self.num_timesteps >= self._next:
            self._next += self.every
            self._validate()
        return not self.log.exhausted

    def _validate(self) -> None:
        result = {"timesteps": self.num_timesteps, **self.evaluate(self.model)}
        for key, value in result.items():
            self.logger.record(f"validation/{key}", value)
        self.log.add(result, lambda: save_model(self.model, self.out / "best_model.zip"))


def run_name(args: TrainArgs, algo: str) -> str:
    """CleanRL-style run name: ``env__algo__seed__unixtime``."""
    return f"{args.env}__{algo}__{args.seed}__{int(time.time())}"


def train(algo: str, argv: Sequence[str] | None = None, start: StartFactory | None = None) -> Path:
    """Train ``algo`` as the command line says and return the run folder.

    The folder holds ``config.json`` (the exact arguments, env kwargs and versions), ``model.zip`` (final),
    ``best_model.zip`` (best on validation), ``validation.json`` and ``progress.csv``.

    Args:
        algo: A key of :data:`~agents.algorithms.ALGORITHMS`.
        argv: The command line (default: ``sys.argv``).
        start: What makes the policy whose settings begin every training and validation episode (MixEnv's
            ``initial_settings``; a supervised model or a heuristic), so the agent learns to refine them: use
            ``--env-kwargs action_mode='delta'``. A class or module-level function (``start=LoudnessBalancePolicy``),
            recorded in ``config.json`` by the start's name and the factory's (:func:`~agents.trained.start_reference`),
            so the agent's env starts from it again wherever it is evaluated (:meth:`~agents.trained.TrainedAgent.env`).
    """
    args = parse_args(algo, argv)
    if start is not None and args.env != MIXENV_ID:
        raise ValueError(f"a start policy is for {MIXENV_ID}, not {args.env}")
    factory = None if start is None else start_reference(start)  # refused before anything is built
    initial = None if start is None else start()
    starting = {} if initial is None else {"initial_settings": initial}
    train_kwargs = training_env_kwargs(args)
    flatten = algo in FLAT_OBSERVATIONS
    if flatten and args.env == MIXENV_ID and train_kwargs.get("observation") != "embedding":
        raise ValueError(
            f"{algo} takes flat observations only: train it on MixEnv's embeddings (the frozen backbone's default), "
            "not on log-mel images (--backbone finetune or observation=logmel)"
        )
    out = args.out or Path("runs") / run_name(args, algo)
    out.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(args.seed)
    np.random.seed(args.seed)  # SB3 draws some randomness from numpy's global state
    eval_env = None
    if args.env == MIXENV_ID:  # made first, so missing default artefacts are built here once, not in every worker
        # Validated (and imitation stopped early) on the songs' own mixes, as it will be evaluated.
        validates = args.eval_freq or args.imitate
        acting = acting_env_kwargs(env_kwargs_for(args, args.eval_split if validates else "train"))
        eval_env = MixEnv(**acting, **starting)
    env = make_vec_env(args.env, train_kwargs | starting, args.n_envs, args.seed, flatten)
    env = with_rewards_scaled(algo, args, env)
    config = {
        "algo": algo,
        "args": {k: str(v) if isinstance(v, Path) else v for k, v in dataclasses.asdict(args).items()},
        "env_kwargs": env_kwargs_for(args, "train"),  # the env the agent acts in: its validation and evaluation
        "training_env_kwargs": train_kwargs,
        "start": None if initial is None else initial.name,
        "start_factory": factory,
        "versions": {"mixenv": mixenv.__version__, "torch": torch.__version__, "python": platform.python_version()},
    }
    write_json(out / "config.json", config)
    model = build_model(algo, args, env)
    if args.imitate:
        assert eval_env is not None  # --imitate needs MixEnv-v0 (the arguments refuse anything else)
        _imitate(model, args, train_kwargs | starting, eval_env, flatten, out)
    model.set_logger(configure(str(out), ["csv"]))
    callbacks: list[BaseCallback] = [_Progress(args.total_timesteps, args.progress)]
    if args.eval_freq and eval_env is not None:

        def evaluate(m: BaseAlgorithm) -> dict[str, float]:
            policy = BestOfEpisode(ModelPolicy(m)) if args.best_of_episode else ModelPolicy(m)
            return validation_score(policy, eval_env, args.eval_episodes, args.seed)

        callbacks.append(_Validation(args.eval_freq, evaluate, out, args.patience))
    began = time.perf_counter()
    try:
        model.learn(args.total_timesteps, callback=CallbackList(callbacks))
    finally:
        env.close()
        model.logger.close()  # progress.csv stays open until closed (a ResourceWarning when collected)
    save_model(model, out / "model.zip")
    seconds = time.perf_counter() - began
    steps = int(model.num_timesteps)  # fewer than asked when --patience stopped it
    write_json(out / "training.json", {"seconds": seconds, "steps": steps, "steps_per_second": steps / seconds})
    return out


def _imitate(
    model: BaseAlgorithm, args: TrainArgs, train_kwargs: dict, val_env: MixEnv, flatten: bool, out: Path
) -> None:
    """Fit the policy to the ground truth before reinforcement learning (``--imitate``); log to ``imitation.json``.

    Demonstrations come from the training env's own kind of clips (train split) and, for early stopping, from the
    validation env (validation split, a quarter as many episodes; the env that validates the agent afterwards)."""
    with MixEnv(**train_kwargs) as demo_env:
        train_demos = demonstrations(demo_env, args.imitate, args.seed, flatten, args.progress)
    val_demos = demonstrations(val_env, max(8, args.imitate // 4), args.seed, flatten, args.progress)
    began = time.perf_counter()
    history = imitate(model, train_demos, val_demos, args.seed, args.progress)
    best = min(history, key=lambda h: h["val_loss"])
    write_json(
        out / "imitation.json",
        {
            "episodes": args.imitate,
            "examples": {"train": len(train_demos), "val": len(val_demos)},
            "best_epoch": best["epoch"],
            "val_loss": best["val_loss"],
            "seconds": time.perf_counter() - began,
            "history": history,
        },
    )


def main(algo: str, argv: Sequence[str] | None = None) -> int:
    """Entry point of ``python -m agents.<algo>``."""
    try:
        out = train(algo, argv)
    except ValueError as err:  # arguments the env or the algorithm refuse; the message says which and why
        print(f"python -m agents.{algo}: error: {err}", file=sys.stderr)
        return 2
    print(f"trained {algo.upper()}; model, config and logs in {out}", file=sys.stderr)
    print(f"evaluate it with: python -m agents.evaluate --model {out} --split test", file=sys.stderr)
    return 0
