"""Side-by-side comparison of mixing methods on held-out songs: tables, plots and example WAVs.

Shared by the benchmarks (and ``make run``, which runs :mod:`experiments.benchmark`), so all report exactly the
same way: every method on the corpus's test split and on each out-of-domain evaluation set
(:data:`mixenv.artifacts.EVALUATION_SETS`), with a summary of how each method's MRSTFT, as a ratio to the neutral
mix's, carries over from one to the others.
"""

from __future__ import annotations

import statistics
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from mixenv import artifacts
from mixenv.data import write_audio
from mixenv.data.corpus import MANIFEST
from mixenv.env import MixEnv
from mixenv.plots import save_figure
from mixenv.table import format_table
from rewards.metrics import METRICS, MetricSuite

GOAL_HEURISTICS = ("loudness balance", "reference matching", "stem matching", "cma-es")
"""The heuristics a learned method must beat out of domain (the generalisation goals)."""
TRAINING_FREE = "cma-es"
"""A method that learns nothing: how its ratio moves between sets is the sets' own difficulty, not generalisation."""
RATIO_TOLERANCE = 0.10
"""A learned method's out-of-domain ratio to neutral must be within this share of its in-domain one."""
LUFS_GOAL = 0.5
"""Its LUFS error out of domain at most this, in LU."""


COLUMNS: tuple[str, ...] = ("mrstft", "lufs_error", "fad", "anomaly", "param_mae", "param_audible", "kad", "fad_inf")
"""What the tables and plots show, where every run of every method has it (the set-level ``kad`` and ``fad_inf`` of
:mod:`experiments.set_level` only where the benchmark measured them)."""
TEST_SPLIT = "corpus test split"
BASELINE = "neutral"


def slug(name: str) -> str:
    """A file-name-safe form of a set's or a method's name."""
    return name.replace(" ", "-").replace(",", "")


def evaluation_sets() -> dict[str, dict[str, Any]]:
    """Name -> the MixEnv keyword arguments that pick its songs (with ``split="test"``): the corpus's test split,
    then each evaluation set (built on first use)."""
    sets: dict[str, dict[str, Any]] = {TEST_SPLIT: {}}
    for name in artifacts.EVALUATION_SETS:
        sets[name] = {"data_path": str(artifacts.evaluation_set(name))}
    return sets


def ratios(results: Mapping[str, Mapping[str, Sequence[Mapping[str, float]]]], metric: str = "mrstft") -> dict:
    """Per set and method, ``metric`` as a ratio to the neutral mix's on the same set (mean over runs)."""
    out: dict[str, dict[str, float]] = {}
    for name, methods in results.items():
        base = over_runs(methods[BASELINE])[metric][0]
        out[name] = {method: over_runs(runs)[metric][0] / base for method, runs in methods.items() if metric in runs[0]}
    return out


def goals(results: Mapping[str, Mapping[str, Sequence[Mapping[str, float]]]], learned: str) -> dict[str, Any]:
    """The generalisation issue's goals for the method ``learned``, each with its numbers; beside the gap in ratio
    to neutral, the same gap of a search that learns nothing (:data:`TRAINING_FREE`), which is the part of the gap
    the sets' own difficulty makes."""
    table = ratios(results)
    out: dict[str, Any] = {"method": learned, "sets": {}}
    base = table[TEST_SPLIT][learned]
    for name in results:
        if name == TEST_SPLIT:
            continue
        lufs = over_runs(results[name][learned])["lufs_error"][0]
        heuristic = {h: table[name][h] for h in GOAL_HEURISTICS if h in table[name]}
        out["sets"][name] = {
            "ratio": table[name][learned],
            "in_domain_ratio": base,
            "relative_gap": table[name][learned] / base - 1,
            "training_free_gap": (
                table[name][TRAINING_FREE] / table[TEST_SPLIT][TRAINING_FREE] - 1
                if TRAINING_FREE in table[name] and TRAINING_FREE in table[TEST_SPLIT]
                else None
            ),
            "best_heuristic": min(heuristic.values()),
            "beats_every_heuristic": table[name][learned] < min(heuristic.values()),
            "lufs_error": lufs,
        }
    return out


def format_goals(g: Mapping[str, Any]) -> str:
    """One line per evaluation set: each goal's number, and met or not."""

    def verdict(met: bool) -> str:
        return "met" if met else "NOT met"

    lines = [f"goals for {g['method']}:"]
    for name, s in g["sets"].items():
        lines.append(
            f"  {name}: MRSTFT ratio {s['ratio']:.3f} vs the best heuristic's {s['best_heuristic']:.3f} "
            f"(beat every heuristic: {verdict(s['beats_every_heuristic'])}); LUFS error {s['lufs_error']:.2f} LU "
            f"(goal <= {LUFS_GOAL}: {verdict(s['lufs_error'] <= LUFS_GOAL)}); {100 * s['relative_gap']:+.0f}% "
            f"against its in-domain ratio {s['in_domain_ratio']:.3f} (goal within {100 * RATIO_TOLERANCE:.0f}%: "
            f"{verdict(abs(s['relative_gap']) <= RATIO_TOLERANCE)})"
            + (
                ""
                if s.get("training_free_gap") is None
                else f"; {TRAINING_FREE}, which learns nothing, moves {100 * s['training_free_gap']:+.0f}%"
            )
        )
    return "\n".join(lines)


def format_generalisation(results: Mapping[str, Mapping[str, Sequence[Mapping[str, float]]]], title: str) -> str:
    """One line per method: MRSTFT as a ratio to neutral and LUFS error on every set, lower is better for both."""
    table = ratios(results)
    sets = list(results)
    methods = list(next(iter(results.values())))
    rows = []
    for method in methods:
        cells: list[float | None] = [table[name].get(method) for name in sets]
        cells += [over_runs(results[name][method]).get("lufs_error", (None,))[0] for name in sets]
        rows.append([method, *cells])
    headers = ["method", *(f"mrstft/neutral {name}" for name in sets), *(f"LU error {name}" for name in sets)]
    return format_table(headers, rows, title=title, rule=True, digits=2)


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
    columns = [c for c in COLUMNS if all(c in run for runs in results.values() for run in runs)]
    rows = []
    for method, runs in results.items():
        stats = over_runs(runs)
        cells: list[str | float | None] = []
        for column in ("return", *columns):
            mean, std = stats.get(column, (float("nan"), 0.0))
            cells.append(f"{mean:.3f} ± {std:.3f}" if len(runs) > 1 else mean)
        rows.append([method, len(runs), *cells])
    return format_table(["method", "runs", "return", *columns], rows, title=title, rule=True)


def metric_agreement(rows: Sequence[Mapping[str, Any]]) -> dict[str, dict[str, float]]:
    """Spearman rank correlation between every two metrics over ``rows`` (one per method and song), for the
    metrics every row has and that vary. Near 1: the two rank mixes alike; ``param_mae`` is the distance from the
    ground-truth settings, and ``mrstft`` (on the corpus) from the ground-truth render."""
    import scipy.stats

    names = [m for m in METRICS if all(m in r for r in rows) and len({r[m] for r in rows}) > 1]
    columns = {m: [float(r[m]) for r in rows] for m in names}
    return {a: {b: float(scipy.stats.spearmanr(columns[a], columns[b]).statistic) for b in names} for a in names}


def format_agreement(agreement: Mapping[str, Mapping[str, float]], title: str) -> str:
    """The Spearman matrix of :func:`metric_agreement` as a table."""
    names = list(agreement)
    rows = [[a, *(agreement[a][b] for b in names)] for a in names]
    return format_table(["metric", *names], rows, title=title, rule=True, digits=2)


def metric_suite_of(env: MixEnv) -> MetricSuite:
    """The env's own reward terms as metrics, with the audible parameter error's weights where the env mixes a
    corpus (songs with ground truth): how much each control moves the mix there (:func:`mixenv.artifacts.sensitivity`,
    measured once beside it)."""
    corpus = Path(env.unwrapped.songs[0].path).parent
    weights = artifacts.sensitivity(corpus).sensitivity if (corpus / MANIFEST).is_file() else None
    return MetricSuite.of_reward(env.unwrapped.reward.terms, weights)


def final_mixes(rows: Sequence[Mapping[str, Any]], env: MixEnv, song: str) -> dict[str, np.ndarray]:
    """Each method's final mix of ``song`` from its benchmark row: the song's clip (its episode's seed) rendered in
    ``env`` (absolute actions) under the row's final settings, as :func:`agents.evaluate.rescore` measures it; the
    reference first. The first row of each method counts (its first seed)."""
    mixes: dict[str, np.ndarray] = {}
    for row in rows:
        if row["song"] != song or row["method"] in mixes:
            continue
        env.reset(seed=row["episode_seed"], options={"song": song})
        env.step(np.asarray(row["settings"], dtype=np.float32))
        mixes[row["method"]] = env.unwrapped.current_mix.copy()
    reference = env.unwrapped.clip.reference
    return mixes if reference is None else {"reference": reference, **mixes}


def write_mixes(mixes: Mapping[str, np.ndarray], song: str, sample_rate: int, out: Path) -> list[Path]:
    """The mixes as WAVs in ``out``, named after the song and the method."""
    paths = [out / f"{song}_{slug(name)}.wav" for name in mixes]
    for path, mix in zip(paths, mixes.values(), strict=True):
        write_audio(path, mix, sample_rate)
    return paths


def plot_generalisation(
    results: Mapping[str, Mapping[str, Sequence[Mapping[str, float]]]], path: Path, title: str
) -> Path:
    """Grouped bars: each method's MRSTFT as a ratio to neutral, one bar per set (lower is better)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    table = ratios(results)
    sets, methods = list(results), list(next(iter(results.values())))
    width = 0.8 / len(sets)
    fig, ax = plt.subplots(figsize=(1.2 + 1.1 * len(methods), 3.8))
    for k, name in enumerate(sets):
        values = [table[name].get(method, np.nan) for method in methods]
        ax.bar(np.arange(len(methods)) + (k - (len(sets) - 1) / 2) * width, values, width, label=name)
    ax.axhline(1.0, color="grey", lw=0.8, ls="--")
    ax.set_xticks(range(len(methods)), methods, rotation=30, ha="right", fontsize=8)
    ax.set_ylabel("MRSTFT / neutral's\n(lower is better)")
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.0, 1.0))  # beside the bars, never over them
    ax.set_title(title, fontsize=9)
    fig.tight_layout()
    return save_figure(fig, path, dpi=90)


def plot_comparison(results: Mapping[str, Sequence[Mapping[str, float]]], path: Path, title: str) -> Path:
    """Horizontal bars of each metric per method (the methods named once per row of panels, top to bottom in
    ``results``' order, so that two dozen methods stay legible), the standard deviation over runs as error bars."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    columns = [c for c in COLUMNS if all(c in runs[0] for runs in results.values())]
    width = min(len(columns), 4)  # at most four panels a row
    height = -(-len(columns) // width)
    methods = list(results)
    fig, axes = plt.subplots(
        height, width, figsize=(4.0 + 2.6 * width, (1.0 + 0.2 * len(methods)) * height), squeeze=False, sharey=True
    )
    for ax in axes.flat[len(columns) :]:
        ax.axis("off")
    colours = plt.cm.tab10(np.arange(len(methods)) % 10)
    for ax, column in zip(axes.flat, columns, strict=False):
        stats = [over_runs(results[m])[column] for m in methods]
        ax.barh(range(len(methods)), [s[0] for s in stats], xerr=[s[1] for s in stats], color=colours, capsize=2)
        ax.set_yticks(range(len(methods)), methods, fontsize=8)
        ax.tick_params(axis="x", labelsize=8)
        ax.set_title(f"{column} (lower is better)", fontsize=9)
    axes[0, 0].invert_yaxis()  # shared: the first method on top in every panel
    fig.suptitle(title)
    fig.tight_layout()
    return save_figure(fig, path, dpi=90)
