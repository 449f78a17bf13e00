"""Side-by-side comparison of mixing methods on held-out songs: table, JSON, plot and example WAVs.

Shared by ``make run`` (experiments/run.py) and the RL benchmark, so both report exactly the same way.
"""

from __future__ import annotations

import statistics
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from agents.evaluate import evaluate_policy
from agents.policies import MixPolicy
from mixenv.data import write_audio
from mixenv.env import MixEnv, episode_limit
from mixenv.plots import save_figure
from mixenv.table import format_table
from rewards.metrics import METRICS

COLUMNS: tuple[str, ...] = ("mrstft", "lufs_error", "fad", "anomaly", "param_mae")


def song_means(rows: Sequence[Mapping[str, Any]]) -> dict[str, float]:
    """Mean of every metric (and the return) over the songs of one evaluation run."""
    keys = ["return", *METRICS]
    return {k: statistics.fmean(r[k] for r in rows) for k in keys if all(k in r for r in rows)}


def over_runs(runs: Sequence[Mapping[str, float]]) -> dict[str, tuple[float, float]]:
    """Mean and standard deviation over runs (seeds) of their song means."""
    return {
        k: (statistics.fmean(r[k] for r in runs), statistics.pstdev(r[k] for r in runs) if len(runs) > 1 else 0.0)
        for k in runs[0]
    }


def format_comparison(results: Mapping[str, Sequence[Mapping[str, float]]], title: str) -> str:
    """One line per method: mean ± std over its runs of each metric (lower is better for all but the return)."""
    rows = []
    for method, runs in results.items():
        stats = over_runs(runs)
        cells: list[str | float | None] = []
        for column in ("return", *COLUMNS):
            mean, std = stats.get(column, (float("nan"), 0.0))
            cells.append(f"{mean:.3f} ± {std:.3f}" if len(runs) > 1 else mean)
        rows.append([method, len(runs), *cells])
    return format_table(["method", "runs", "return", *COLUMNS], rows, title=title, rule=True)


def run_policy(policy: MixPolicy, env: MixEnv, episodes: int | None, seed: int) -> list[dict[str, Any]]:
    """Per-song rows of one method (see :func:`agents.evaluate.evaluate_policy`)."""
    return evaluate_policy(policy, env, episodes=episodes, seed=seed, progress=True)


def write_example_mixes(
    policies: Mapping[str, tuple[MixPolicy, MixEnv]], song: str, seed: int, out: Path
) -> dict[str, np.ndarray]:
    """Each method's final mix of one song (each policy in its own env), and the reference, as WAVs in ``out``."""
    out.mkdir(parents=True, exist_ok=True)
    mixes: dict[str, np.ndarray] = {}
    for name, (policy, env) in policies.items():
        obs, _ = env.reset(seed=seed, options={"song": song})
        policy.reset(env)
        for _ in range(episode_limit(env)):
            obs, _, _, truncated, _ = env.step(policy.act(obs, env))
            if truncated:
                break
        mixes[name] = env.current_mix
    if env.clip.reference is not None:
        mixes = {"reference": env.clip.reference, **mixes}
    for name, mix in mixes.items():
        write_audio(out / f"{song}_{name.replace(' ', '_')}.wav", mix, env.clip.sample_rate)
    return mixes


def plot_comparison(results: Mapping[str, Sequence[Mapping[str, float]]], path: Path, title: str) -> Path:
    """Bars of each metric per method, with the standard deviation over runs as error bars."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    columns = [c for c in COLUMNS if all(c in runs[0] for runs in results.values())]
    fig, axes = plt.subplots(1, len(columns), figsize=(3.2 * len(columns), 3.6), squeeze=False)
    methods = list(results)
    colours = plt.cm.tab10(np.arange(len(methods)) % 10)
    for ax, column in zip(axes[0], columns, strict=True):
        stats = [over_runs(results[m])[column] for m in methods]
        ax.bar(range(len(methods)), [s[0] for s in stats], yerr=[s[1] for s in stats], color=colours, capsize=3)
        ax.set_xticks(range(len(methods)), methods, rotation=60, ha="right", fontsize=8)
        ax.set_title(f"{column} (lower is better)", fontsize=9)
    fig.suptitle(title)
    fig.tight_layout()
    return save_figure(fig, path, dpi=90)
