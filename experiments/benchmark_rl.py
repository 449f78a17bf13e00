"""Every agent against the heuristics and the supervised model on held-out songs, several seeds, one budget.

Budget (defaults): each agent trains for ``--timesteps`` 10 000 env steps (1 000 ten-step episodes) on 2 s clips of
the corpus' train split (``agents.envs.TRAINING_CLIP_SECONDS``) with 2 envs in subprocesses and the frozen
backbone, validating every 1 000 steps on 8 val songs at the env's 4 s clips and keeping the best model; then the
best model mixes the 24 test songs (one 4 s clip each, seeds fixed) and the songs of each out-of-domain set. Each
step renders once, so an agent renders 10 times per song (11 with the neutral start). ``--one-seed`` algorithms run
the first seed only. The refining agent (``--refine``, ``ppo, refining the model``) is PPO in delta mode whose
episodes start from the default supervised model's settings, mastered to the reference's loudness; beside it, that
start alone. ``--remixed`` adds ``ppo, remixes``: PPO trained on remixed clips (the randomised data of the
generalisation issue), evaluated on the songs' own mixes. ``--variant-seeds`` sets the two variants' seeds.
Heuristics run once each (deterministic), CMA-ES with ``--cmaes-budget`` 100 renders per song over the
seeds. Runs already finished (their evaluation file exists) are reused, so an interrupted benchmark continues
where it stopped.

Also measures training throughput, env steps per second with 1 and with 2 envs, as a ratio, and plots each
agent's validation learning curve (return against steps, mean and spread over seeds).

Usage: ``python -m experiments.benchmark_rl [--timesteps 10000] [--seeds 0 1 2] [--out outputs/benchmark_rl]``
"""

from __future__ import annotations

import argparse
import json
import logging
from pathlib import Path
from typing import Any

import numpy as np

from agents.algorithms import ALGORITHMS
from agents.heuristics import HEURISTICS
from agents.policies import AgentPolicy, LoudnessMatchedPolicy, MixPolicy
from agents.train import train as train_agent
from experiments.compare import (
    TEST_SPLIT,
    cached,
    evaluation_sets,
    format_agreement,
    format_comparison,
    format_generalisation,
    metric_agreement,
    plot_comparison,
    plot_generalisation,
    ratios,
    run_policy,
    slug,
    song_means,
)
from mixenv.data.atomic import write_json
from mixenv.env import MixEnv
from mixenv.plots import save_figure
from supervised.default import default_model_path
from supervised.policy import SupervisedPolicy

REFINE = "ppo, refining the model"
"""The refining agent's name: PPO in delta mode, its episodes starting from :func:`model_start`'s settings."""
REMIXED = "ppo, remixes"
"""PPO trained on remixed clips (re-coloured stems, dropped roles, half the references under the wide prior), the
randomised data the supervised models generalise from, evaluated on the songs' own mixes."""
VARIANTS: dict[str, tuple[str, list[str]]] = {
    REFINE: ("ppo", ["action_mode='delta'"]),
    REMIXED: ("ppo", ["remix={'wide': 0.5}"]),
}
"""Agent name -> its algorithm and the ``--env-kwargs`` it trains with (the plain algorithms train with none)."""


def model_start() -> MixPolicy:
    """The default supervised model's settings, mastered to the reference's loudness: the refining agent's start,
    and a method of its own (what the agent must beat)."""
    return LoudnessMatchedPolicy(SupervisedPolicy(default_model_path(), name="supervised default model"))


def train_and_evaluate(
    method: str, seed: int, args: argparse.Namespace, set_name: str, data: dict[str, Any]
) -> list[dict[str, Any]]:
    """Train one agent (unless its run exists) and evaluate its best model on the songs of a set."""
    refine = method == REFINE
    algo, env_args = VARIANTS.get(method, (method, []))
    run = args.out / "runs" / f"{slug(method)}_seed{seed}"
    start = model_start() if refine else None

    def evaluate() -> list[dict[str, Any]]:
        if not (run / "model.zip").is_file():
            argv = ["--total-timesteps", str(args.timesteps), "--seed", str(seed), "--n-envs", str(args.n_envs),
                    "--out", str(run), "--eval-freq", str(args.eval_freq), "--eval-episodes", "8"]  # fmt: skip
            train_agent(algo, argv + (["--env-kwargs", *env_args] if env_args else []), start=start)
        policy = AgentPolicy(run)
        env = policy.env("test", **data, **({"initial_settings": start} if refine else {}))
        return run_policy(policy, env, args.episodes, seed=1000)

    name = "test" if set_name == TEST_SPLIT else slug(set_name)
    return cached(run / f"evaluation_{name}.json", evaluate)


def learning_curves(args: argparse.Namespace, methods: dict[str, list[int]]) -> dict[str, list[dict[str, float]]]:
    """Per agent, its validation history over seeds: timesteps, and mean and std of the validation return (the
    final mix's score minus the neutral mix's on the same clips: 0 is neutral, whatever clips a seed drew)."""
    curves = {}
    for method, seeds in methods.items():
        histories = [
            json.loads((args.out / "runs" / f"{slug(method)}_seed{seed}" / "validation.json").read_text())
            for seed in seeds
        ]
        length = min(len(h) for h in histories)
        curves[method] = [
            {
                "timesteps": histories[0][i]["timesteps"],
                "return": float(np.mean([h[i]["return"] for h in histories])),
                "return_std": float(np.std([h[i]["return"] for h in histories])),
            }
            for i in range(length)
        ]
    return curves


def plot_learning_curves(curves: dict[str, list[dict[str, float]]], path: Path, title: str) -> Path:
    """Validation return against training steps, one line per agent (band: std over seeds), neutral at 0."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.4, 3.8))
    for method, points in curves.items():
        steps = [p["timesteps"] for p in points]
        mean, std = np.array([p["return"] for p in points]), np.array([p["return_std"] for p in points])
        ax.plot(steps, mean, marker="o", ms=3, label=method)
        ax.fill_between(steps, mean - std, mean + std, alpha=0.2)
    ax.axhline(0.0, color="grey", ls="--", lw=0.8, label="neutral")
    ax.set_xlabel("training env steps")
    ax.set_ylabel("validation return (higher is better)")
    ax.set_title(title, fontsize=9)
    ax.legend(fontsize=7)
    fig.tight_layout()
    return save_figure(fig, path, dpi=90)


def throughput(args: argparse.Namespace) -> dict[str, float]:
    """Training env steps per second with 1 and with 2 envs (PPO, no validation), and their ratio."""
    rates = {}
    for n_envs in (1, 2):
        run = args.out / "throughput" / f"ppo_{n_envs}env"
        if not (run / "training.json").is_file():
            train_agent("ppo", ["--total-timesteps", str(args.throughput_steps), "--n-envs", str(n_envs),
                                 "--out", str(run), "--eval-freq", "0", "--no-progress"])  # fmt: skip
        rates[f"{n_envs} env(s) steps/s"] = json.loads((run / "training.json").read_text())["steps_per_second"]
    rates["2 envs vs 1"] = rates["2 env(s) steps/s"] / rates["1 env(s) steps/s"]
    return rates


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--timesteps", type=int, default=10_000, help="training steps per agent run")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2], help="seeds per agent (and CMA-ES)")
    parser.add_argument("--algos", nargs="+", default=list(ALGORITHMS), choices=sorted(ALGORITHMS))
    parser.add_argument(
        "--one-seed", nargs="*", default=[], choices=sorted(ALGORITHMS), help="algorithms run on the first seed only"
    )
    parser.add_argument("--refine", action=argparse.BooleanOptionalAction, default=True, help="the refining agent")
    parser.add_argument(
        "--remixed", action=argparse.BooleanOptionalAction, default=False, help="PPO trained on remixes (issue 14)"
    )
    parser.add_argument("--variant-seeds", type=int, nargs="+", default=None, help="seeds of the two variants")
    parser.add_argument("--eval-freq", type=int, default=1_000, help="validate every this many steps")
    parser.add_argument("--n-envs", type=int, default=2, help="parallel training envs")
    parser.add_argument("--episodes", type=int, default=None, help="test songs (default: the whole test split)")
    parser.add_argument("--cmaes-budget", type=int, default=100, help="renders per song for CMA-ES")
    parser.add_argument("--throughput-steps", type=int, default=1024, help="steps of each throughput run")
    parser.add_argument("--out", type=Path, default=Path("outputs/benchmark_rl"), help="runs, results and plot")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING, format="mixenv: %(message)s")

    agents = {algo: args.seeds[:1] if algo in args.one_seed else args.seeds for algo in args.algos}
    variant_seeds = args.variant_seeds or args.seeds
    if args.refine:
        agents[REFINE] = variant_seeds
    if args.remixed:
        agents[REMIXED] = variant_seeds
    results: dict[str, dict[str, list[dict[str, float]]]] = {}
    test_rows: list[dict[str, Any]] = []  # every method's per-song rows on the test split, for the agreement table
    for set_name, data in evaluation_sets().items():
        env = MixEnv(split="test", **data)
        folder = args.out / "heuristics" / ("" if set_name == TEST_SPLIT else slug(set_name))
        table: dict[str, list[dict[str, float]]] = {}
        for name, cls in HEURISTICS.items():
            for seed in args.seeds if name == "cmaes" else [0]:
                policy = cls(budget=args.cmaes_budget, seed=seed) if name == "cmaes" else cls()
                rows = cached(
                    folder / f"{name}_seed{seed}.json",
                    lambda policy=policy, env=env: run_policy(policy, env, args.episodes, seed=1000),
                )
                table.setdefault(name, []).append(song_means(rows))
                test_rows += rows if set_name == TEST_SPLIT else []
        if args.refine:
            start = model_start()
            rows = cached(
                folder / "model.json",
                lambda start=start, env=env: run_policy(start, env, args.episodes, seed=1000),
            )
            table[start.name] = [song_means(rows)]
            test_rows += rows if set_name == TEST_SPLIT else []
        for method, seeds in agents.items():
            runs = [train_and_evaluate(method, seed, args, set_name, data) for seed in seeds]
            table[method] = [song_means(rows) for rows in runs]
            test_rows += [row for rows in runs for row in rows] if set_name == TEST_SPLIT else []
        results[set_name] = table
    rates = throughput(args)
    title = f"{args.timesteps} training steps per agent, seeds {args.seeds}"
    for set_name, table in results.items():
        print("\n" + format_comparison(table, f"MixEnv-v0, {set_name}: {title}"))
    summary = "each method on the corpus test split and on the out-of-domain evaluation sets"
    print("\n" + format_generalisation(results, summary))
    print("\ntraining throughput: " + ", ".join(f"{k} {v:.2f}" for k, v in rates.items()))
    agreement = metric_agreement(test_rows)
    print("\n" + format_agreement(agreement, "Spearman rank correlation of the metrics over every method x song row"))
    write_json(
        args.out / "results.json",
        {"title": title, "results": results, "ratios": ratios(results), "throughput": rates, "agreement": agreement},
    )
    curves = learning_curves(args, agents)
    write_json(args.out / "learning_curves.json", curves)
    plots = [
        plot_comparison(results[TEST_SPLIT], args.out / "results.png", title),
        plot_generalisation(results, args.out / "generalisation.png", summary),
        plot_learning_curves(curves, args.out / "learning_curves.png", title),
    ]
    print(f"\nwrote {args.out / 'results.json'} and " + ", ".join(map(str, plots)))


if __name__ == "__main__":
    main()
