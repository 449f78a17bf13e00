"""Every agent against the heuristics and the supervised model on held-out songs, several seeds, one budget.

Trains each agent of ``--algos`` once per seed (``--one-seed`` algorithms on the first seed only), then runs
:mod:`experiments.benchmark` with their runs (``--agents "LABEL=RUN_seed{seed}"``, one method of the seeds' runs;
a one-seed run as a plain ``LABEL=RUN``): every method on the corpus test split and each out-of-domain evaluation
set, the tables, the generalisation goals of the agents (``--learned``), the metrics' agreement, the plots and
``results.json`` are the benchmark's.

Budget (defaults): each agent trains for ``--timesteps`` 10 000 env steps (1 000 ten-step episodes) on 2 s clips of
the corpus' train split (``agents.envs.TRAINING_CLIP_SECONDS``) with 2 envs in subprocesses and the frozen
backbone, validating every 1 000 steps on 8 val songs at the env's 4 s clips and keeping the best model, which the
benchmark evaluates (one 4 s clip per song, rendering 10 times per song, 11 with the neutral start; CMA-ES with
``--cmaes-budget`` 100 renders per song over the seeds). The refining agent (``--refine``, ``ppo, refining the
model``) is PPO in delta mode whose episodes start from the default supervised model's settings, mastered to the
reference's loudness (:func:`experiments.methods.model_start`); its run records that start, so the benchmark's
episodes begin there too, and the start alone is the benchmark's ``supervised model, loudness matched``. It is
validated in the form it is used in, each episode ending on its best-scoring render (``--best-of-episode``), so
the model kept is the one that proposes the best mixes, not the one whose last move is best.
``--remixed`` adds ``ppo, remixes``: PPO trained on remixed clips (the randomised data of the generalisation
issue), evaluated on the songs' own mixes (``--remixed td3 ppo``: ``<algo>, remixes`` for each algorithm named);
``--imitated`` adds ``ppo, imitation first``: PPO whose policy imitates the ground truth before it learns from the
reward (:mod:`agents.imitation`; ``--imitated td3 ppo``: ``<algo>, imitation first`` for each algorithm named).
``--matched`` adds ``ppo, reference match``: PPO that also observes each processed stem's reference-matching features
(MixEnv's ``reference_match=True``, :mod:`mixenv.match`; ``--matched td3 ppo``: for each algorithm named).
``--variants NAME ...`` adds agents by name, an algorithm followed by any of these suffixes in this order
(``--variants "td3, remixes, reference match"``). ``--variant-seeds`` runs the variants on the first seed only, or
on all of them.
``--patience N`` stops each run after N validations in a row without a new best (the agents' ``--patience``).
Finished training runs and the benchmark's rows are reused, so an interrupted benchmark continues where it stopped.

Also measures training throughput, env steps per second with 1 and with 2 envs, as a ratio (``throughput.json``),
and plots each agent's validation learning curve (return against steps, mean and spread over seeds).

Usage: ``python -m experiments.benchmark_rl [--timesteps 10000] [--seeds 0 1 2] [--out outputs/benchmark_rl]``
"""

from __future__ import annotations

import argparse
import json
import logging
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from agents.algorithms import ALGORITHMS
from agents.args import check_patience
from agents.episodes import BEST_OF_EPISODE
from agents.train import train as train_agent
from experiments import benchmark
from experiments.compare import slug
from experiments.methods import model_start
from mixenv.data.atomic import write_json
from mixenv.plots import save_figure

REFINE = "ppo, refining the model"
"""The refining agent's name: PPO in delta mode, its episodes starting from the settings of
:func:`experiments.methods.model_start`, validated on each episode's best render."""
REMIXES = ", remixes"
"""The name suffix of an agent trained on remixed clips (re-coloured stems, dropped roles, half the references under
the wide prior), the randomised data the supervised models generalise from, evaluated on the songs' own mixes."""
REMIXED = f"ppo{REMIXES}"
"""PPO trained on remixed clips (``--remixed`` alone)."""
IMITATION = ", imitation first"
"""The name suffix of an agent whose policy first imitates the ground-truth settings of ``IMITATION_EPISODES``
training episodes (``--imitate``, :mod:`agents.imitation`), then learns from the reward as its algorithm does."""
IMITATED = f"ppo{IMITATION}"
"""PPO after imitation (``--imitated`` alone)."""
IMITATION_EPISODES = 4_000
"""Demonstration episodes of ``imitation first`` (8 000 examples). Chosen on the validation songs (chorales and folk
of seed 12; SAC's imitated actor at seed 0, observing reference matching, MRSTFT as it acts / best of its renders /
loudness matched, 2026-12-06): 1 000 episodes of the corpus 0.723 / 0.741 / 0.578 on the chorales and 1.014 / 0.929 /
0.624 on folk, 4 000 0.738 / 0.747 / 0.511 and 0.901 / 0.815 / 0.598; on remixes (``, remixes``) 1 000 0.659 / 0.644 /
0.578 and 0.862 / 0.771 / 0.650, 4 000 **0.512 / 0.453 / 0.479** and **0.806 / 0.602** / 0.658 (loudness balance
0.634 and 0.719). The corpus's train split holds 192 songs, each with one ground truth, so a thousand episodes
repeat every target five times and the actor fits the songs after its first epoch; remixes draw a new one for half
of them. Runs before 2026-12-06 imitated 1 000 episodes."""
MATCHED = ", reference match"
"""The name suffix of an agent that also observes each processed stem's reference-matching features: how loud it
sits in the reference, band by band (MixEnv's ``reference_match=True``), the comparison the supervised models read."""
SUFFIXES: dict[str, tuple[list[str], list[str]]] = {
    REMIXES: (["remix={'wide': 0.5}"], []),
    IMITATION: ([], ["--imitate", str(IMITATION_EPISODES)]),
    MATCHED: (["reference_match=True"], []),
}
"""Name suffix -> the ``--env-kwargs`` and the other training arguments it adds; an agent's name is its algorithm's
followed by any of them, in this order (``td3, remixes, reference match``)."""
SUFFIX_FLAGS: dict[str, tuple[str, str]] = {
    "remixed": (REMIXES, "trained on remixes (issue 14); alone: PPO"),
    "imitated": (IMITATION, "trained after imitating the ground truth (issue 16); alone: PPO"),
    "matched": (MATCHED, "trained observing reference matching (issues 14, 16); alone: PPO"),
}
"""Command-line flag -> the suffix of the variants it adds (one per algorithm named) and its help."""


def variant(method: str) -> tuple[str, list[str], list[str]]:
    """An agent's name -> its algorithm, the ``--env-kwargs`` and the other training arguments it trains with.

    Raises:
        ValueError: If the name is not an algorithm followed by suffixes of :data:`SUFFIXES` in their order.
    """
    if method == REFINE:
        return "ppo", ["action_mode='delta'"], ["--best-of-episode"]
    algo, *parts = method.split(", ")
    suffixes = [f", {part}" for part in parts]
    order = [suffix for suffix in SUFFIXES if suffix in suffixes]
    if algo not in ALGORITHMS or suffixes != order:
        raise ValueError(
            f"unknown agent {method!r}: an algorithm ({', '.join(sorted(ALGORITHMS))}) followed by any of "
            f"{', '.join(repr(s) for s in SUFFIXES)}, in that order"
        )
    env_args = [arg for suffix in suffixes for arg in SUFFIXES[suffix][0]]
    train_args = [arg for suffix in suffixes for arg in SUFFIXES[suffix][1]]
    return algo, env_args, train_args


def run_folder(runs: Path, method: str, seed: int | str) -> Path:
    """Where the training run of an agent and seed goes (``seed="{seed}"``: the benchmark's per-seed form)."""
    return runs / f"{slug(method)}_seed{seed}"


def train_run(method: str, seed: int, args: argparse.Namespace) -> Path:
    """The training run of one agent and seed (trained here unless it is finished already)."""
    run = run_folder(args.runs, method, seed)
    if not (run / "model.zip").is_file():
        algo, env_args, train_args = variant(method)
        argv = ["--total-timesteps", str(args.timesteps), "--seed", str(seed), "--n-envs", str(args.n_envs),
                "--out", str(run), "--eval-freq", str(args.eval_freq), "--eval-episodes", "8",
                "--patience", str(args.patience), *train_args]  # fmt: skip
        env = ["--env-kwargs", *env_args] if env_args else []
        train_agent(algo, argv + env, start=model_start if method == REFINE else None)
    return run


def learning_curves(runs: Path, agents: dict[str, list[int]]) -> dict[str, list[dict[str, float]]]:
    """Per agent, its validation history over seeds: timesteps, and mean and std of the validation return (the
    final mix's score minus the start's on the same clips: 0 is the start, whatever clips a seed drew)."""
    curves = {}
    for method, seeds in agents.items():
        histories = validation_histories(runs, method, seeds)
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


def kept_steps(runs: Path, agents: dict[str, list[int]]) -> dict[str, list[int]]:
    """Per agent, the training step of each seed's kept model: its highest validation score's, the first of equal
    ones as :class:`agents.episodes.ValidationLog` keeps it. 0 is the policy before any update: a run that never
    validated above its start is evaluated as it began (the refining agent's does not move at all)."""
    return {
        method: [
            int(max(history, key=lambda h: h["score"])["timesteps"])
            for history in validation_histories(runs, method, seeds)
        ]
        for method, seeds in agents.items()
    }


def validation_histories(runs: Path, method: str, seeds: Sequence[int]) -> list[list[dict[str, float]]]:
    """Each seed's validation history of ``method`` (its run's ``validation.json``)."""
    return [json.loads((run_folder(runs, method, seed) / "validation.json").read_text()) for seed in seeds]


def plot_learning_curves(curves: dict[str, list[dict[str, float]]], path: Path, title: str) -> Path:
    """Validation return against training steps, one line per agent (band: std over seeds), the start at 0."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.4, 3.8))
    for method, points in curves.items():
        steps = [p["timesteps"] for p in points]
        mean, std = np.array([p["return"] for p in points]), np.array([p["return_std"] for p in points])
        ax.plot(steps, mean, marker="o", ms=3, label=method)
        ax.fill_between(steps, mean - std, mean + std, alpha=0.2)
    ax.axhline(0.0, color="grey", ls="--", lw=0.8, label="start")
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
        run = args.runs / "throughput" / f"ppo_{n_envs}env"
        if not (run / "training.json").is_file():
            train_agent("ppo", ["--total-timesteps", str(args.throughput_steps), "--n-envs", str(n_envs),
                                 "--out", str(run), "--eval-freq", "0", "--no-progress"])  # fmt: skip
        rates[f"{n_envs} env(s) steps/s"] = json.loads((run / "training.json").read_text())["steps_per_second"]
    rates["2 envs vs 1"] = rates["2 env(s) steps/s"] / rates["1 env(s) steps/s"]
    return rates


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``python -m experiments.benchmark_rl``."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--timesteps", type=int, default=10_000, help="training steps per agent run")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2], help="seeds per agent (and CMA-ES)")
    parser.add_argument("--algos", nargs="+", default=list(ALGORITHMS), choices=sorted(ALGORITHMS))
    parser.add_argument(
        "--one-seed", nargs="*", default=[], choices=sorted(ALGORITHMS), help="algorithms run on the first seed only"
    )
    parser.add_argument("--refine", action=argparse.BooleanOptionalAction, default=True, help="the refining agent")
    for flag, (_, what) in SUFFIX_FLAGS.items():
        parser.add_argument(
            f"--{flag}", nargs="*", choices=sorted(ALGORITHMS), default=None, help=f"these algorithms also {what}"
        )
    parser.add_argument(
        "--variants",
        nargs="+",
        default=[],
        metavar="NAME",
        help="more agents by name: an algorithm and suffixes, e.g. 'td3, remixes, reference match'",
    )
    parser.add_argument(
        "--variant-seeds", type=int, nargs="+", default=None, help="seeds of the variants: the first or all"
    )
    parser.add_argument("--eval-freq", type=int, default=1_000, help="validate every this many steps")
    parser.add_argument(
        "--patience",
        type=int,
        default=0,
        help="stop a run after this many validations without a new best (its best model is kept either way; "
        "0: train for --timesteps)",
    )
    parser.add_argument("--n-envs", type=int, default=2, help="parallel training envs")
    parser.add_argument("--episodes", type=int, default=None, help="songs per set (default: all)")
    parser.add_argument("--cmaes-budget", type=int, default=100, help="renders per song for CMA-ES")
    parser.add_argument("--throughput-steps", type=int, default=1024, help="steps of each throughput run")
    parser.add_argument("--workers", type=int, default=1, help="benchmark episodes in this many local processes")
    parser.add_argument("--runs", type=Path, default=Path("runs/benchmark_rl"), help="training runs")
    parser.add_argument("--out", type=Path, default=Path("outputs/benchmark_rl"), help="results, tables and plots")
    args = parser.parse_args(argv)
    check_patience(parser, args.patience, args.eval_freq)  # refused here, not in the first run it reaches
    variant_seeds = args.variant_seeds or args.seeds
    if variant_seeds not in (args.seeds, args.seeds[:1]):
        parser.error(f"--variant-seeds {variant_seeds}: give the first of --seeds {args.seeds} or all of them")
    for name in args.variants:
        try:
            variant(name)
        except ValueError as err:
            parser.error(f"--variants: {err}")
    logging.basicConfig(level=logging.WARNING, format="mixenv: %(message)s")

    agents = {algo: args.seeds[:1] if algo in args.one_seed else args.seeds for algo in args.algos}
    variants = [f"{algo}{suffix}" for flag, (suffix, _) in SUFFIX_FLAGS.items()
                for algo in ([] if getattr(args, flag) is None else getattr(args, flag) or ["ppo"])]  # fmt: skip
    variants += args.variants
    wanted = {REFINE: args.refine} | dict.fromkeys(variants, True)
    agents |= {variant: variant_seeds for variant, chosen in wanted.items() if chosen}
    for method, seeds in agents.items():
        for seed in seeds:
            train_run(method, seed, args)
    rates = throughput(args)
    write_json(args.out / "throughput.json", rates)
    # A method of every seed names its runs per seed; one of the first seed alone is evaluated once, as that seed.
    runs = [f"{m}={run_folder(args.runs, m, '{seed}' if s == args.seeds else s[0])}" for m, s in agents.items()]
    # The goals of each agent, and of its mixes mastered to the reference's loudness (agents of absolute actions).
    learned = [
        name for method in agents for name in (method, f"{method}, {BEST_OF_EPISODE}", f"{method}, loudness matched")
    ]
    code = benchmark.main(
        ["--agents", *runs, "--learned", *learned, "--seeds", *map(str, args.seeds), "--cmaes-budget",
         str(args.cmaes_budget), "--workers", str(args.workers), "--out", str(args.out)]
        + ([] if args.episodes is None else ["--episodes", str(args.episodes)])
    )  # fmt: skip
    if code:
        return code
    title = f"{args.timesteps} training steps per agent, seeds {args.seeds}"
    curves = learning_curves(args.runs, agents)
    write_json(args.out / "learning_curves.json", curves)
    plot = plot_learning_curves(curves, args.out / "learning_curves.png", title)
    kept = "; ".join(f"{method} {steps}" for method, steps in kept_steps(args.runs, agents).items())
    print(f"\nthe training step of each seed's kept model (0: before any update): {kept}")
    print("training throughput: " + ", ".join(f"{k} {v:.2f}" for k, v in rates.items()))
    print(f"wrote {args.out / 'throughput.json'}, {args.out / 'learning_curves.json'} and {plot}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
