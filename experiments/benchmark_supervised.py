"""Benchmark of the supervised baselines: trains every recipe per seed, then :mod:`experiments.benchmark` scores them.

``python -m experiments.benchmark_supervised [--quick] [--runs DIR] [--out DIR] [--workers N] [--cmaes-budget N]``

It trains each configuration below (the main models per seed, the ablations on the first seed), then runs the one
benchmark with every trained model as ``--models "LABEL=RUN"`` (``RUN`` with ``{seed}`` for the main models: one
model per seed), none refined: every method in MixEnv on the 24 test songs of the default corpus and of each out-of-
domain evaluation set, a 4 s clip of each song, each model as it predicts; the ablation model and the ``cvae`` also
with the reference hidden, loudness matched, balance, tone and loudness matched and reference-free (the other
models' forms no table reads: ``--predicted-only``); beside the heuristics, predict-the-mean, the neutral mix and
the ground truth. The benchmark's ``results.json``, tables and plots go to ``OUT/benchmark_supervised/``.
The tables here are read from its rows: mean ± std over seeds of the per-song means on the corpus test split, and
each out-of-domain set's MRSTFT as a ratio to the neutral mix's there with its LUFS error; training alone adds the
validation loss and the training minutes per seed (each run's own record).

1. Main table: ``cnn``, ``crnn``, ``attention`` and ``patch`` (3 seeds each) as they predict, the ablation model
   with the reference hidden, loudness matched, balance, tone and loudness matched and reference-free (mastered
   to -14 LUFS), predict-the-mean (the
   train split's mean settings), the neutral mix and the ground truth (the floor). Goals: the best model's
   audible parameter error (lowest of the four) at most half of predict-the-mean's, and its MRSTFT to the
   reference at most half of the neutral mix's.
2. Augmentation: gain jitter (the default, the main run) against all four augmentations and none, on the
   ablation model: the conv-backbone model with the lowest validation loss in (1), chosen on validation songs,
   never on test songs. Then reference matching: the main run against the same model without the
   :mod:`mixenv.match` features (the backbone embeddings alone).
3. Transfer, on the same model: pretrained and fine-tuned (the main run), from scratch, pretrained and frozen.
4. Head size on ``crnn`` (it has all three knobs), one knob at a time around its default (depth 2, dropout 0.1,
   kernel 3): depth 1 and 3, dropout 0 and 0.3, kernel 1 and 5.
5. Variations: the ``cvae`` samples 8 settings for the clip of each of the benchmark's test-split episodes
   (:func:`supervised.variations.evaluate_variations`, measured in the benchmark's env with its metrics); their
   spread (diversity) and the mean quality of their renders, against its own most typical mix (as it predicts,
   and mastered to -14 LUFS) and the ablation model with the reference and reference-free (the benchmark's rows).
   The ``cvae`` (stems only: it reads no reference) trains three times longer (45 epochs): at 15, its decoder had
   not yet learnt to use the latent (reconstruction error through the posterior 0.050 vs 0.052 through the prior)
   and its samples barely differed.

CPU budget, in epochs (measured, on 2 cores shared with other jobs): every run trains 15 epochs of 12 steps
(192 train songs in batches of 16) on 3 s clips, about 2-4 minutes: a model's 3 seeds take 6-12 minutes. Ablations
use one seed (the first, the main run's, as their reference row): read differences smaller than the main table's
seed spread as noise. 24 training runs in all, about 55 minutes of training; wall times of every run are in the
JSON. The benchmark then mixes every song of three sets with each of the 16 models (the ablation model and the
``cvae`` in five forms) and with CMA-ES on every seed (``--cmaes-budget`` renders a song): spread its episodes over
processes with ``--workers``.
``--quick`` trains everything for one epoch of two steps, one seed, and benchmarks three songs per set with
CMA-ES at 5 renders (the fewest a refinement takes): a smoke test of the pipeline, not a measurement.

Runs go to ``--runs`` (default ``runs/benchmark_supervised``); a finished run found there is reused and an
interrupted one resumed, and the benchmark keeps its finished rows, so an interrupted benchmark continues where it
stopped (delete ``OUT/benchmark_supervised/rows`` after retraining a run). Results go to ``--out`` (default
``outputs``): ``benchmark_supervised.json``, ``.md`` (the tables) and ``.png``, written atomically.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from experiments import benchmark
from experiments.compare import TEST_SPLIT, metric_suite_of, song_means
from experiments.methods import MATCHED, MeanPolicy
from mixenv import artifacts
from mixenv.data.atomic import atomic_path, write_json
from mixenv.features import FeatureConfig
from mixenv.params import ParamSpace
from mixenv.plots import save_figure
from rewards.metrics import summarize
from supervised.args import TrainArgs
from supervised.augment import AUGMENTATIONS
from supervised.checkpoint import MODEL_FILE, load_model
from supervised.train import TrainingData, TrainResult, load_training_data, train
from supervised.variations import evaluate_variations

MODELS = ("cnn", "crnn", "attention", "patch")
COLUMNS = ("param_audible", "param_mae", "mrstft", "lufs_error", "fad", "anomaly")
"""Table columns, lower is better for all (the benchmark's metric names)."""
BASELINES = (MeanPolicy.name, "neutral", "ground truth")
"""The benchmark's methods that train nothing, in the main table: what the goals are measured against, and the
floor."""
CVAE = "cvae"

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Budget:
    """How much every run trains, and how much of the benchmark runs."""

    epochs: int = 15
    steps_per_epoch: int = 0
    batch_size: int = 16
    clip_seconds: float = 3.0
    seeds: tuple[int, ...] = (0, 1, 2)
    eval_clip_seconds: float = 4.0
    test_songs: int | None = None
    cmaes_budget: int = 100
    variations: int = 8
    variation_epochs: int = 45

    @property
    def ablation_seeds(self) -> tuple[int, ...]:
        """The ablations' seed: the first (the benchmark evaluates a model without ``{seed}`` on it)."""
        return self.seeds[:1]


QUICK = Budget(
    epochs=1,
    steps_per_epoch=2,
    batch_size=4,
    clip_seconds=2.0,
    seeds=(0,),
    test_songs=3,
    cmaes_budget=5,
    variations=2,
    variation_epochs=1,
)


@dataclass(frozen=True)
class Variant:
    """A training configuration: a row of a table.

    Attributes:
        label: Row name (and the model's label in the benchmark).
        model: Model preset.
        changes: :class:`~supervised.args.TrainArgs` fields that differ from the budget's defaults.
    """

    label: str
    model: str
    changes: dict[str, Any] = field(default_factory=dict)

    @property
    def key(self) -> str:
        """Folder-safe name of the configuration."""
        extra = "_".join(f"{k}-{'+'.join(v) if isinstance(v, tuple) else v}" for k, v in sorted(self.changes.items()))
        return self.model + (f"__{extra}" if extra else "")


@dataclass
class Bench:
    """Everything the runs share: budget, training data and where runs go; and what each run recorded.

    Attributes:
        overrides: Model preset -> :class:`~supervised.args.TrainArgs` fields of its every run (tests: a tiny
            backbone).
        trained: Per table, one record per (variant, seed): its run folder, training time, epochs, validation loss.
        models: Benchmark label -> model path (``{seed}`` in it: one run per seed), every configuration once.
    """

    budget: Budget
    data: TrainingData
    runs: Path
    overrides: dict[str, dict[str, Any]] = field(default_factory=dict)
    trained: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    models: dict[str, str] = field(default_factory=dict)

    def folder(self, variant: Variant, seed: int | str) -> Path:
        """The run folder of a variant and seed (``seed="{seed}"``: the benchmark's per-seed form)."""
        return self.runs / f"{variant.key}__seed{seed}"

    def train(self, variant: Variant, seed: int) -> tuple[TrainResult, Path]:
        """Train (or reuse, or resume) one run."""
        b = self.budget
        out = self.folder(variant, seed)
        defaults = {
            "epochs": b.epochs,
            "batch_size": b.batch_size,
            "clip_seconds": b.clip_seconds,
            "steps_per_epoch": b.steps_per_epoch,
        }
        changes = {**defaults, **self.overrides.get(variant.model, {}), **variant.changes}
        args = TrainArgs(model=variant.model, seed=seed, out=out, progress=False, **changes)
        summary = out / "training.json"
        if summary.is_file():
            stored = json.loads((out / "config.json").read_text())["args"]
            if stored["epochs"] != args.epochs or stored["seed"] != seed:
                raise RuntimeError(f"{out} holds a run of another budget; delete it or pass another --runs folder")
            values = json.loads(summary.read_text())
            return TrainResult(**{**values, "out": Path(values["out"])}), out
        resume = (out / "last.pt").is_file()
        return train(dataclasses.replace(args, resume=resume), self.data), out

    def run(self, group: str, variant: Variant, seeds: Sequence[int]) -> list[dict[str, Any]]:
        """Train ``variant`` for every seed; record each run under ``group``, and the variant as a benchmark model
        (one model per seed when ``seeds`` are the budget's, else the first of ``seeds``'s, evaluated once)."""
        rows = []
        for seed in seeds:
            start = time.perf_counter()
            result, out = self.train(variant, seed)
            rows.append(
                {
                    "label": variant.label,
                    "model": variant.model,
                    "seed": seed,
                    "run": str(out),
                    "wall_seconds": round(time.perf_counter() - start, 1),
                    "train_seconds": round(result.seconds, 1),
                    "epochs": result.epochs,
                    "best_epoch": result.best_epoch,
                    "val_loss": result.validation["loss"],
                }
            )
            log.warning(
                "%s / %s seed %d: val loss %.4f, %.1f min",
                group,
                variant.label,
                seed,
                rows[-1]["val_loss"],
                rows[-1]["train_seconds"] / 60,
            )
        per_seed = tuple(seeds) == self.budget.seeds
        self.models[variant.label] = str(self.folder(variant, "{seed}" if per_seed else seeds[0]) / MODEL_FILE)
        self.trained.setdefault(group, []).extend(rows)
        return rows


def benchmark_rows(rows: Sequence[Mapping[str, Any]], method: str, label: str) -> list[dict[str, Any]]:
    """One row per seed of a benchmark method, as ``label``: its per-song means on the corpus test split, and on
    each other set as ``set:metric``."""
    sets: dict[int, dict[str, list[Mapping[str, Any]]]] = {}
    for row in rows:
        if row["method"] == method:
            sets.setdefault(row["seed"], {}).setdefault(row["set"], []).append(row)
    out = []
    for seed, by_set in sets.items():
        entry: dict[str, Any] = {"label": label, "seed": seed, **song_means(by_set[TEST_SPLIT])}
        for name, song_rows in by_set.items():
            if name != TEST_SPLIT:
                entry |= {f"{name}:{metric}": value for metric, value in song_means(song_rows).items()}
        out.append(entry)
    return out


def table_rows(
    rows: Sequence[Mapping[str, Any]], trained: Sequence[Mapping[str, Any]], model: str, method: str
) -> list[dict[str, Any]]:
    """The benchmark's rows of ``method`` (a form of the trained ``model``), one per seed, with that seed's
    training record (validation loss, training time)."""
    record = {r["seed"]: r for r in trained if r["label"] == model}
    return [record[row["seed"]] | row for row in benchmark_rows(rows, method, method) if row["seed"] in record]


def aggregate(rows: Sequence[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Per label: mean and std over seeds of every metric, seeds, and mean training time per seed.

    The training time is the one the run recorded, so a run reused from an earlier invocation counts as long as
    it took to train, not as the instant it took to find."""
    table: dict[str, dict[str, Any]] = {}
    for label in dict.fromkeys(r["label"] for r in rows):
        mine = [r for r in rows if r["label"] == label]
        entry: dict[str, Any] = {"seeds": sum(r["seed"] is not None for r in mine), **summarize(mine)}
        for name in (k.split(":")[0] for k in mine[0] if k.endswith(":mrstft")):
            prefix = f"{name}:"
            out_of_domain = summarize(
                [{k.removeprefix(prefix): v for k, v in r.items() if k.startswith(prefix)} for r in mine]
            )
            entry |= {prefix + metric: stats for metric, stats in out_of_domain.items()}
        walls = [r["train_seconds"] for r in mine if "train_seconds" in r]
        if walls:
            entry["minutes_per_seed"] = float(np.mean(walls) / 60)
            entry["val_loss"] = float(np.mean([r["val_loss"] for r in mine]))
        table[label] = entry
    return table


def markdown(title: str, table: dict[str, dict[str, Any]], neutral: dict[str, float] | None = None) -> str:
    """A markdown table: mean ± std over seeds per metric on the test split, then each evaluation set's MRSTFT as a
    ratio to ``neutral``'s (set -> the neutral mix's MRSTFT there) and its LUFS error."""
    sets = list(neutral or {})
    header = ["method", "seeds", *COLUMNS, *(f"{s}: mrstft ÷ neutral, LU error" for s in sets), "min/seed"]
    lines = [f"**{title}**", "", "| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for label, entry in table.items():
        cells = [label, str(entry["seeds"] or "–")]
        for metric in COLUMNS:
            s = entry.get(metric)
            cells.append(
                "–" if s is None else f"{s['mean']:.3f}" + (f" ± {s['std']:.3f}" if entry["seeds"] > 1 else "")
            )
        for name in sets:
            mrstft, lufs = entry.get(f"{name}:mrstft"), entry.get(f"{name}:lufs_error")
            cells.append("–" if mrstft is None else f"{mrstft['mean'] / neutral[name]:.2f}, {lufs['mean']:.2f}")
        cells.append(f"{entry['minutes_per_seed']:.1f}" if "minutes_per_seed" in entry else "–")
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def goals(main: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """Whether the best model (lowest audible parameter error) halves predict-the-mean's audible parameter error and
    the neutral mix's MRSTFT."""
    models = {k: v for k, v in main.items() if k in MODELS}
    best = min(models, key=lambda k: models[k]["param_audible"]["mean"])
    error, mean_error = models[best]["param_audible"]["mean"], main[MeanPolicy.name]["param_audible"]["mean"]
    mrstft, neutral = models[best]["mrstft"]["mean"], main["neutral"]["mrstft"]["mean"]
    best_mrstft = min(models, key=lambda k: models[k]["mrstft"]["mean"])
    return {
        "best_model": best,
        "param_audible": {
            "best": error,
            "predict_the_mean": mean_error,
            "ratio": error / mean_error,
            "met": error <= mean_error / 2,
        },
        "mrstft": {"best": mrstft, "neutral": neutral, "ratio": mrstft / neutral, "met": mrstft <= neutral / 2},
        "lowest_mrstft_model": best_mrstft,
        "lowest_mrstft": models[best_mrstft]["mrstft"]["mean"],
    }


def ablation_model(main_rows: Sequence[dict[str, Any]]) -> str:
    """The conv-backbone model with the lowest mean validation loss (chosen on val songs, not on test songs)."""
    losses = {m: np.mean([r["val_loss"] for r in main_rows if r["label"] == m]) for m in MODELS if m != "patch"}
    return min(losses, key=losses.__getitem__)


def train_all(bench: Bench) -> str:
    """Train every configuration of every table; returns the ablation model."""
    b = bench.budget
    for model in MODELS:
        bench.run("main", Variant(model, model), b.seeds)
    chosen = ablation_model(bench.trained["main"])
    for group, label, changes in (
        ("augmentation", f"{chosen}, all four", {"augment": AUGMENTATIONS}),
        ("augmentation", f"{chosen}, none", {"augment": ()}),
        ("matching", f"{chosen}, backbone only", {"no_reference_match": True}),
        ("transfer", f"{chosen}, from scratch", {"init_backbone": "none"}),
        ("transfer", f"{chosen}, pretrained frozen", {"freeze_backbone": True}),
    ):
        bench.run(group, Variant(label, chosen, changes), b.ablation_seeds)
    for knob, values in (("depth", (1, 3)), ("dropout", (0.0, 0.3)), ("kernel_size", (1, 5))):
        for value in values:
            bench.run("head", Variant(f"crnn, {knob} {value}", "crnn", {knob: value}), b.ablation_seeds)
    bench.run("variations", Variant(CVAE, CVAE, {"epochs": b.variation_epochs}), b.ablation_seeds)
    return chosen


def run_benchmark(bench: Bench, out: Path, workers: int = 1) -> dict[str, Any]:
    """Train every configuration, run :mod:`experiments.benchmark` on them (its results in ``out``), and make every
    table from its rows; returns the JSON-ready results.

    Raises:
        RuntimeError: If the benchmark fails.
    """
    b = bench.budget
    chosen = train_all(bench)
    models = [f"{label}={path}" for label, path in bench.models.items()]
    learned = [f"{chosen}, loudness matched", f"{chosen}, {MATCHED}"]
    predicted_only = [label for label in bench.models if label not in (chosen, CVAE)]  # no table reads their forms
    code = benchmark.main(
        ["--models", *models, "--predicted-only", *predicted_only, "--refine", "--learned", *learned,
         "--seeds", *map(str, b.seeds),
         "--cmaes-budget", str(b.cmaes_budget), "--clip-seconds", str(b.eval_clip_seconds),
         "--workers", str(workers), "--out", str(out)]
        + ([] if b.test_songs is None else ["--episodes", str(b.test_songs)])
    )  # fmt: skip
    if code:
        raise RuntimeError(f"experiments.benchmark failed (exit status {code})")
    results = json.loads((out / "results.json").read_text(encoding="utf-8"))
    rows, trained = results["rows"], [r for group in bench.trained.values() for r in group]

    def model_rows(label: str, method: str | None = None, seeds: Sequence[int] | None = None) -> list[dict[str, Any]]:
        """Rows of the model ``label`` (its ``method`` form), for ``seeds`` (default: all it has)."""
        found = table_rows(rows, trained, label, method or label)
        return [r for r in found if seeds is None or r["seed"] in seeds]

    def variants(group: str) -> list[dict[str, Any]]:
        """The rows of every configuration trained for ``group``."""
        return [r for label in dict.fromkeys(v["label"] for v in bench.trained[group]) for r in model_rows(label)]

    def reference_row(label: str, new_label: str) -> list[dict[str, Any]]:
        """The main run's rows of ``label`` on the ablation seeds, as an ablation's reference row."""
        return [r | {"label": new_label} for r in model_rows(label, seeds=b.ablation_seeds)]

    def baseline(method: str) -> list[dict[str, Any]]:
        return [r | {"seed": None} for r in benchmark_rows(rows, method, method)]

    forms = (
        f"{chosen}, reference hidden",
        f"{chosen}, loudness matched",
        f"{chosen}, {MATCHED}",
        f"{chosen}, reference-free",
    )
    groups: dict[str, list[dict[str, Any]]] = {
        "main": [r for m in MODELS for r in model_rows(m)]
        + [r for form in forms for r in model_rows(chosen, form)]
        + [r for method in BASELINES for r in baseline(method)],
        "augmentation": reference_row(chosen, f"{chosen}, gain jitter (default)") + variants("augmentation"),
        "matching": reference_row(chosen, f"{chosen}, reference matching (default)") + variants("matching"),
        "transfer": reference_row(chosen, f"{chosen}, pretrained fine-tuned") + variants("transfer"),
        "head": reference_row("crnn", "crnn (depth 2, dropout 0.1, kernel 3)") + variants("head"),
    }
    sampled = _variations(bench, results, rows)
    groups["variations"] = (
        sampled
        + [r | {"label": f"{CVAE}, most typical mix"} for r in model_rows(CVAE)]
        + model_rows(CVAE, f"{CVAE}, reference-free")
        + model_rows(chosen, seeds=b.ablation_seeds)
        + model_rows(chosen, f"{chosen}, reference-free", seeds=b.ablation_seeds)
    )
    tables = {group: aggregate(group_rows) for group, group_rows in groups.items()}
    return {
        "budget": dataclasses.asdict(b),
        "ablation_model": chosen,
        "benchmark": str(out / "results.json"),
        "goals": goals(tables["main"]),
        "tables": tables,
        "diversity": {
            key: {"mean": float(np.mean([r[key] for r in sampled])), "std": float(np.std([r[key] for r in sampled]))}
            for key in ("spread", "pairwise")
        },
        "runs": groups,
        "training": bench.trained,
    }


def _variations(bench: Bench, results: Mapping[str, Any], rows: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Per seed of the CVAE, the mean over the benchmark's test-split clips of its samples' quality and diversity
    (:func:`~supervised.variations.evaluate_variations`, in the benchmark's env of that set, with its metrics)."""
    b = bench.budget
    env = benchmark.set_env(json.dumps(results["sets"][TEST_SPLIT], sort_keys=True))
    sampled = []
    for record in bench.trained["variations"]:
        episodes = [
            (r["song"], r["episode_seed"])
            for r in rows
            if r["set"] == TEST_SPLIT and r["method"] == CVAE and r["seed"] == record["seed"]
        ]
        start = time.perf_counter()
        per_clip = evaluate_variations(
            load_model(record["run"]), env, episodes, metric_suite_of(env), b.variations, record["seed"]
        )
        keys = [key for key in per_clip[0] if key not in ("song", "episode_seed", "samples")]
        sampled.append(
            {
                "label": f"{CVAE}, {b.variations} samples per clip",
                "seed": record["seed"],
                "eval_seconds": round(time.perf_counter() - start, 1),
                **{key: float(np.mean([c[key] for c in per_clip])) for key in keys},
            }
        )
    return sampled


def report(results: dict[str, Any]) -> str:
    """All tables as markdown, with the goals."""
    songs = results["budget"]["test_songs"] or "all"
    titles = {
        "main": f"Corpus test split ({songs} songs, a clip of {results['budget']['eval_clip_seconds']:g} s each), "
        "mean ± std over seeds",
        "augmentation": f"Augmentation ablation ({results['ablation_model']})",
        "matching": f"Reference-matching features ablation ({results['ablation_model']})",
        "transfer": f"Transfer ablation ({results['ablation_model']})",
        "head": "Head size on crnn (one seed, one knob at a time)",
        "variations": "Variations: CVAE samples vs deterministic predictions",
    }
    neutral = results["tables"]["main"]["neutral"]
    sets = {k.split(":")[0]: v["mean"] for k, v in neutral.items() if k.endswith(":mrstft")}
    parts = [markdown(titles[g], t, sets) for g, t in results["tables"].items()]
    d = results["diversity"]
    parts.append(
        f"**Diversity of the CVAE's samples** (normalised units, mean ± std over seeds; deterministic models: 0): "
        f"spread (std across samples, mean over controls) {d['spread']['mean']:.3f} ± {d['spread']['std']:.3f}, "
        f"pairwise |difference| {d['pairwise']['mean']:.3f} ± {d['pairwise']['std']:.3f}"
    )
    g = results["goals"]
    error = g["param_audible"]
    parts.append(
        f"**Goals** (best model by audible parameter error: {g['best_model']}): audible parameter error "
        f"{error['best']:.3f} vs predict-the-mean {error['predict_the_mean']:.3f} (ratio {error['ratio']:.2f}, goal "
        f"<= 0.5: {'met' if error['met'] else 'NOT met'}); MRSTFT {g['mrstft']['best']:.3f} vs neutral "
        f"{g['mrstft']['neutral']:.3f} (ratio {g['mrstft']['ratio']:.2f}, goal <= 0.5: "
        f"{'met' if g['mrstft']['met'] else 'NOT met'})."
    )
    return "\n\n".join(parts) + "\n"


def plot(results: dict[str, Any], path: Path) -> Path:
    """Main-table bars with the goal lines, validation curves of the first seed, and the ablations' MRSTFT."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    tables = results["tables"]
    fig, axes = plt.subplots(2, 2, figsize=(13, 8.5))
    main = tables["main"]
    labels = list(main)
    for ax, metric, goal_of, goal_label in (
        (axes[0, 0], "param_audible", MeanPolicy.name, "half of predict-the-mean"),
        (axes[0, 1], "mrstft", "neutral", "half of neutral"),
    ):
        means = [main[k][metric]["mean"] for k in labels]
        stds = [main[k][metric]["std"] for k in labels]
        ax.barh(labels, means, xerr=stds, color=["C7" if k in BASELINES else "C0" for k in labels])
        ax.axvline(main[goal_of][metric]["mean"] / 2, color="C3", linestyle="--", label=f"goal: {goal_label}")
        ax.invert_yaxis()
        ax.set_xlabel(f"{metric} on the test songs (lower is better)")
        ax.legend(loc="lower right")
    first = results["budget"]["seeds"][0]
    for row in results["training"]["main"]:
        if row["seed"] == first:
            history = np.genfromtxt(Path(row["run"]) / "history.csv", delimiter=",", names=True)
            axes[1, 0].plot(np.atleast_1d(history["epoch"]), np.atleast_1d(history["val_mae"]), label=row["label"])
    axes[1, 0].axhline(main[MeanPolicy.name]["param_mae"]["mean"], color="C7", linestyle=":", label="mean (test)")
    axes[1, 0].set_xlabel("epoch")
    axes[1, 0].set_ylabel(f"validation MAE (seed {first})")
    axes[1, 0].legend()
    ablations = [
        (f"{group}: {label}", entry)
        for group in ("augmentation", "matching", "transfer", "head")
        for label, entry in tables[group].items()
    ]
    axes[1, 1].barh(
        [a for a, _ in ablations],
        [e["mrstft"]["mean"] for _, e in ablations],
        xerr=[e["mrstft"]["std"] for _, e in ablations],
        color="C2",
    )
    axes[1, 1].invert_yaxis()
    axes[1, 1].set_xlabel("mrstft on the test songs")
    axes[1, 1].tick_params(axis="y", labelsize=7)
    fig.suptitle("Supervised baselines on held-out songs of the synthetic corpus")
    fig.tight_layout()
    return save_figure(fig, path)


def setup(budget: Budget, runs: Path, progress: Callable[[str], None]) -> Bench:
    """Corpus (made on first use), the shipped backbone's features and the training data."""
    corpus = artifacts.corpus()
    features = artifacts.backbone().features
    if features != FeatureConfig():
        raise RuntimeError(f"the default backbone reads {features}; the patch model assumes FeatureConfig()")
    progress("computing log-mels of the train and val songs")
    data = load_training_data(corpus, ParamSpace(), features, progress=False)
    progress(f"{len(data.train)} train / {len(data.val)} val songs")
    return Bench(budget, data, runs)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``python -m experiments.benchmark_supervised``."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "--quick", action="store_true", help="smoke run: 1 epoch of 2 steps, 1 seed, 3 songs per set, CMA-ES at 5"
    )
    parser.add_argument("--runs", type=Path, help="run folders (default: runs/benchmark_supervised[_quick])")
    parser.add_argument(
        "--out", type=Path, default=Path("outputs"), help="folder for the JSON, tables and plot (the benchmark's: a "
        "subfolder)"
    )  # fmt: skip
    parser.add_argument("--workers", type=int, default=1, help="benchmark episodes in this many local processes")
    parser.add_argument("--cmaes-budget", type=int, default=None, help="renders per song of CMA-ES (default: 100)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(message)s", datefmt="%H:%M:%S")
    budget = QUICK if args.quick else Budget()
    if args.cmaes_budget is not None:
        budget = dataclasses.replace(budget, cmaes_budget=args.cmaes_budget)
    suffix = "_quick" if args.quick else ""
    runs = args.runs or Path("runs") / f"benchmark_supervised{suffix}"
    start = time.perf_counter()
    bench = setup(budget, runs, lambda message: log.warning(message))
    results = run_benchmark(bench, args.out / f"benchmark_supervised{suffix}", args.workers)
    results["wall_minutes"] = round((time.perf_counter() - start) / 60, 1)
    text = report(results) + f"\nWall time of the whole benchmark: {results['wall_minutes']} minutes.\n"
    print(text)
    write_json(args.out / f"benchmark_supervised{suffix}.json", results)
    with atomic_path(args.out / f"benchmark_supervised{suffix}.md") as tmp:
        tmp.write_text(text, encoding="utf-8")
    plot(results, args.out / f"benchmark_supervised{suffix}.png")
    print(f"wrote {args.out}/benchmark_supervised{suffix}.{{json,md,png}}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
