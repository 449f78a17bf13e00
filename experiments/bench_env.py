"""MixEnv-v0 throughput, as ratios measured in one run (absolute times on shared machines mean little).

Prints:
  * env steps per second of the default env (synthetic corpus, 4 s clips, every reward term), with its resets
    timed apart, and with them included (one per 10 steps: what an agent's rollout sees);
  * env step vs render-only step: how much of a step is rendering (goal >= 0.5: observing and scoring cost no
    more than rendering), and what a reset costs in steps;
  * what each reward term costs per step, timed alone;
  * the agents' training envs: steps per second on the 2 s training clip vs the env's clip (embedding observations);
  * SubprocVecEnv(2) vs DummyVecEnv(2) steps per second (one torch thread per worker).

Usage: ``python -m experiments.bench_env [--steps 200] [--clip-seconds 4] [--observation logmel|embedding]``
"""

from __future__ import annotations

import argparse
import os
import time
from collections.abc import Callable
from typing import Any

import gymnasium as gym
import numpy as np
import torch

import mixenv  # noqa: F401  (registers MixEnv-v0)
from agents.envs import TRAINING_CLIP_SECONDS
from mixenv.env import MixEnv, episode_limit
from rewards.base import ScoreContext


def _make(env_kwargs: dict[str, Any]) -> Callable[[], gym.Env]:
    def thunk() -> gym.Env:
        torch.set_num_threads(1)  # one thread per env: workers must not oversubscribe the cores
        return gym.make("MixEnv-v0", **env_kwargs)

    return thunk


def _steps_per_second(step: Callable[[], object], steps: int) -> float:
    for _ in range(3):
        step()
    start = time.perf_counter()
    for _ in range(steps):
        step()
    return steps / (time.perf_counter() - start)


def bench_single(env_kwargs: dict[str, Any], steps: int) -> dict[str, float]:
    """One env: steps per second with and without its resets, its render alone, and the cost of each reward term.

    The goal ratio compares like with like, interleaved so that a noisy machine slows both sides alike: each
    episode's steps are timed (its reset apart), then the same clip is rendered under the same actions without
    observing or scoring. A reset loads a new clip and renders and scores its neutral mix; it is reported as its
    own ratio to a step, and in the throughput an agent sees (one reset per episode of ``max_episode_steps``).
    """
    torch.set_num_threads(1)
    wrapped = gym.make("MixEnv-v0", **env_kwargs)
    env: MixEnv = wrapped.unwrapped
    episode_steps = episode_limit(wrapped)
    env.reset(seed=0)
    rng = np.random.default_rng(0)
    timers = {"step": 0.0, "reset": 0.0, "render": 0.0}
    done = resets = 0
    while done < steps:
        actions = rng.uniform(-1, 1, (episode_steps, env.action_space.shape[0])).astype(np.float32)
        for action in actions:
            start = time.perf_counter()
            env.step(action)
            timers["step"] += time.perf_counter() - start
        for action in actions:
            start = time.perf_counter()
            env.render_settings(env.space.to_physical(action))  # what a step renders
            timers["render"] += time.perf_counter() - start
        start = time.perf_counter()
        env.reset()
        timers["reset"] += time.perf_counter() - start
        done, resets = done + len(actions), resets + 1
    results = {
        "env steps/s, resets included": done / (timers["step"] + timers["reset"]),
        "env steps/s": done / timers["step"],
        "render-only steps/s": done / timers["render"],
    }
    results["env step vs render-only step"] = results["env steps/s"] / results["render-only steps/s"]
    results["env reset vs env step (time)"] = (timers["reset"] / resets) / (timers["step"] / done)
    mix = env.render_settings(env.space.neutral()).mix
    for term in env.reward.terms:
        reference = env.clip.reference if env.uses_reference else None
        context = ScoreContext(env.clip.sample_rate, reference, env.clip.stems)
        term.score(mix.copy(), context)  # reference-side work happens once per episode; time the per-step part

        def score(term=term, context=context) -> None:
            term.score(mix.copy(), context)

        results[f"term {term.name} ms"] = 1000 / _steps_per_second(score, min(steps, 50))
    return results


def bench_training_clip(
    env_kwargs: dict[str, Any], steps: int, training_clip: float = TRAINING_CLIP_SECONDS, rounds: int = 3
) -> dict[str, float]:
    """What the agents' training envs gain: steps per second (resets included) of the embedding-observation env
    on the training clip against the env's own clip, the two measured in alternating rounds (medians), so a noisy
    machine slows both alike."""
    torch.set_num_threads(1)
    own = float(env_kwargs.get("clip_seconds", 4.0))
    clips = (own, training_clip)
    envs = {c: gym.make("MixEnv-v0", **(env_kwargs | {"observation": "embedding", "clip_seconds": c})) for c in clips}
    actions = np.random.default_rng(2).uniform(-1, 1, (steps, envs[own].action_space.shape[0])).astype(np.float32)
    rates: dict[float, list[float]] = {c: [] for c in clips}
    for _ in range(rounds):
        for clip, env in envs.items():
            env.reset(seed=0)
            start = time.perf_counter()
            for action in actions:
                if env.step(action)[3]:
                    env.reset()
            rates[clip].append(steps / (time.perf_counter() - start))
    own_rate, short_rate = (float(np.median(rates[c])) for c in clips)
    return {
        f"embedding env steps/s, {own:g} s clip": own_rate,
        f"embedding env steps/s, {training_clip:g} s training clip": short_rate,
        "training clip vs env clip (steps/s)": short_rate / own_rate,
    }


def bench_vector(env_kwargs: dict[str, Any], steps: int) -> dict[str, float]:
    """Steps per second (summed over envs) of 2 envs in one process vs in 2 subprocesses."""
    from stable_baselines3.common.vec_env import DummyVecEnv, SubprocVecEnv

    results = {}
    for name, cls, kwargs in (
        ("DummyVecEnv(2)", DummyVecEnv, {}),
        ("SubprocVecEnv(2)", SubprocVecEnv, {"start_method": "spawn"}),
    ):
        vec = cls([_make(env_kwargs) for _ in range(2)], **kwargs)
        vec.seed(0)
        vec.reset()
        actions = np.random.default_rng(1).uniform(-1, 1, (steps + 3, 2, vec.action_space.shape[0]))
        it = iter(actions)
        results[f"{name} env steps/s"] = 2 * _steps_per_second(lambda vec=vec, it=it: vec.step(next(it)), steps // 2)
        vec.close()
    results["SubprocVecEnv(2) vs DummyVecEnv(2)"] = (
        results["SubprocVecEnv(2) env steps/s"] / results["DummyVecEnv(2) env steps/s"]
    )
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=200, help="timed steps per measurement")
    parser.add_argument("--clip-seconds", type=float, default=4.0, help="clip length of the env")
    parser.add_argument(
        "--observation",
        choices=("logmel", "embedding"),
        default="logmel",
        help="the env's observation (embedding: what the agents' frozen-backbone default trains on)",
    )
    parser.add_argument("--data-path", default=None, help="corpus folder (default: the default synthetic corpus)")
    args = parser.parse_args()
    env_kwargs = {"clip_seconds": args.clip_seconds, "data_path": args.data_path, "observation": args.observation}
    print(f"machine: {os.cpu_count()} cores; env: {env_kwargs}")
    results = {
        **bench_single(env_kwargs, args.steps),
        **bench_training_clip(env_kwargs, args.steps),
        **bench_vector(env_kwargs, args.steps),
    }
    for name, value in results.items():
        print(f"{name:40s} {value:10.3f}")


if __name__ == "__main__":
    main()
