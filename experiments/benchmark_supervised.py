"""Benchmark of the supervised baselines on the default corpus's held-out test songs and the evaluation sets.

``python -m experiments.benchmark_supervised [--quick] [--runs DIR] [--out DIR]``

What it measures (everything on the 24 test songs, 3 clips of 4 s each, scored by
:func:`rewards.metrics.mix_metrics` through :mod:`supervised.evaluate`; mean ± std over seeds of the per-seed
means over clips; every table also gives each out-of-domain evaluation set's MRSTFT as a ratio to the neutral
mix's there, and its LUFS error, on 3 clips of each of its 24 songs):

1. Main table: ``cnn``, ``crnn``, ``attention`` and ``patch`` (3 seeds each, with the reference), the
   predict-the-mean and neutral baselines, and the ground truth (the floor), plus the best model without the
   reference and with its predictions mastered to the reference's loudness. Goals: the best model's parameter
   MAE at most half of predict-the-mean's, and its MRSTFT to the reference at most half of the neutral mix's.
2. Augmentation: gain jitter (the default, the main run) against all four augmentations and none, on the
   ablation model: the conv-backbone model with the lowest validation loss in (1), chosen on validation songs,
   never on test songs. Then reference matching: the main run against the same model without the
   :mod:`supervised.models.match` features (the backbone embeddings alone).
3. Transfer, on the same model: pretrained and fine-tuned (the main run), from scratch, pretrained and frozen.
4. Head size on ``crnn`` (it has all three knobs), one knob at a time around its default (depth 2, dropout 0.1,
   kernel 3): depth 1 and 3, dropout 0 and 0.3, kernel 1 and 5.
5. Variations: the ``cvae`` samples 8 settings per clip; their spread (diversity) and the mean quality of their
   renders, against its own most typical mix and the deterministic model with and without the reference. The
   ``cvae`` trains three times longer (45 epochs): at 15, its decoder had not yet learnt to use the latent
   (reconstruction error through the posterior 0.050 vs 0.052 through the prior) and its samples barely differed.

CPU budget, in epochs (measured, on 2 cores shared with other jobs): every run trains 15 epochs of 12 steps
(192 train songs in batches of 16) on 3 s clips, about 2-4 minutes, and is evaluated in seconds: a model's 3
seeds take 6-12 minutes, within the 15 minutes per model this benchmark promises. Ablations use one seed (seed
0, the main run's, as their reference row): read differences smaller than the main table's seed spread as noise.
24 training runs in all, about 55 minutes of training;
wall times of every run are in the JSON. ``--quick`` runs everything for one epoch of two steps, one seed, three
test songs: a smoke test of the pipeline (a few minutes), not a measurement.

Runs go to ``--runs`` (default ``runs/benchmark_supervised``); a finished run found there is reused and an
interrupted one resumed, so an interrupted benchmark continues where it stopped. Results go to ``--out``
(default ``outputs``): ``benchmark_supervised.json``, ``.md`` (the tables) and ``.png``, written atomically.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from experiments.compare import TEST_SPLIT
from mixenv import artifacts
from mixenv.clip import Clip, song_clips
from mixenv.data.atomic import atomic_path, write_json
from mixenv.data.corpus import corpus_songs
from mixenv.features import FeatureConfig
from mixenv.params import ParamSpace
from mixenv.plots import save_figure
from rewards.metrics import METRICS, MetricSuite, summarize
from supervised.args import TrainArgs
from supervised.augment import AUGMENTATIONS
from supervised.checkpoint import load_model
from supervised.evaluate import evaluate_predictor
from supervised.predictors import (
    GroundTruthPredictor,
    LoudnessMatched,
    ModelPredictor,
    Predictor,
    mean_predictor,
    neutral_predictor,
)
from supervised.train import TrainingData, TrainResult, load_training_data, train
from supervised.variations import evaluate_variations

MODELS = ("cnn", "crnn", "attention", "patch")
COLUMNS = ("param_mae", "param_mse", "mrstft", "lufs_error", "fad", "anomaly")
"""Table columns, lower is better for all (``mix_metrics`` names)."""

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Budget:
    """How much every run trains and how much is evaluated."""

    epochs: int = 15
    steps_per_epoch: int = 0
    batch_size: int = 16
    clip_seconds: float = 3.0
    seeds: tuple[int, ...] = (0, 1, 2)
    ablation_seeds: tuple[int, ...] = (0,)
    grid_seeds: tuple[int, ...] = (0,)
    eval_clip_seconds: float = 4.0
    clips_per_song: int = 3
    test_songs: int | None = None
    variations: int = 8
    variation_epochs: int = 45


QUICK = Budget(
    epochs=1,
    steps_per_epoch=2,
    batch_size=4,
    clip_seconds=2.0,
    seeds=(0,),
    ablation_seeds=(0,),
    clips_per_song=1,
    test_songs=3,
    variations=2,
    variation_epochs=1,
)


@dataclass(frozen=True)
class Variant:
    """A training configuration: a row of a table.

    Attributes:
        label: Row name.
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
    """Everything the runs share: budget, data, test clips, metric suite, and where runs go."""

    budget: Budget
    data: TrainingData
    clips: dict[str, list[Clip]]
    suite: MetricSuite
    runs: Path
    space: ParamSpace = field(default_factory=ParamSpace)
    results: dict[str, list[dict[str, Any]]] = field(default_factory=dict)

    def train(self, variant: Variant, seed: int) -> tuple[TrainResult, Path]:
        """Train (or reuse, or resume) one run."""
        b = self.budget
        out = self.runs / f"{variant.key}__seed{seed}"
        defaults = {
            "epochs": b.epochs,
            "batch_size": b.batch_size,
            "clip_seconds": b.clip_seconds,
            "steps_per_epoch": b.steps_per_epoch,
        }
        args = TrainArgs(model=variant.model, seed=seed, out=out, progress=False, **{**defaults, **variant.changes})
        summary = out / "training.json"
        if summary.is_file():
            stored = json.loads((out / "config.json").read_text())["args"]
            if stored["epochs"] != args.epochs or stored["seed"] != seed:
                raise RuntimeError(f"{out} holds a run of another budget; delete it or pass another --runs folder")
            values = json.loads(summary.read_text())
            return TrainResult(**{**values, "out": Path(values["out"])}), out
        resume = (out / "last.pt").is_file()
        return train(dataclasses.replace(args, resume=resume), self.data), out

    def evaluate(self, predictor: Predictor) -> dict[str, float]:
        """Means over the clips of every metric: the test split's by name, each evaluation set's as ``set:name``."""
        metrics = {}
        for name, clips in self.clips.items():
            prefix = "" if name == TEST_SPLIT else f"{name}:"
            rows = evaluate_predictor(predictor, clips, self.suite)
            metrics |= {prefix + m: s["mean"] for m, s in summarize(rows).items()}
        return metrics

    def run(
        self, group: str, variant: Variant, seeds: Sequence[int], reference: bool = True, loudness: bool = False
    ) -> list[dict]:
        """Train and evaluate ``variant`` for every seed (``loudness``: its predictions mastered to the reference's
        loudness); record and return one row per seed."""
        rows = []
        for seed in seeds:
            start = time.perf_counter()
            result, out = self.train(variant, seed)
            train_seconds = time.perf_counter() - start
            start = time.perf_counter()
            predictor: Predictor = ModelPredictor(load_model(out), use_reference=reference)
            metrics = self.evaluate(LoudnessMatched(predictor) if loudness else predictor)
            rows.append(
                {
                    "label": variant.label + (", loudness matched" if loudness else ""),
                    "model": variant.model,
                    "seed": seed,
                    "run": str(out),
                    "wall_seconds": round(train_seconds, 1),
                    "train_seconds": round(result.seconds, 1),
                    "eval_seconds": round(time.perf_counter() - start, 1),
                    "epochs": result.epochs,
                    "best_epoch": result.best_epoch,
                    "val_loss": result.validation["loss"],
                    **metrics,
                }
            )
            log.warning("%s / %s seed %d: %s", group, variant.label, seed, _brief(rows[-1]))
        self.results.setdefault(group, []).extend(rows)
        return rows

    def baseline(self, group: str, predictor: Predictor) -> None:
        """Evaluate a training-free predictor once (it has no seeds)."""
        start = time.perf_counter()
        metrics = self.evaluate(predictor)
        row = {"label": predictor.name, "model": predictor.name, "seed": None, "eval_seconds": 0.0, **metrics}
        row["eval_seconds"] = round(time.perf_counter() - start, 1)
        self.results.setdefault(group, []).append(row)


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
    """Whether the best model (lowest parameter MAE) halves predict-the-mean's MAE and the neutral mix's MRSTFT."""
    models = {k: v for k, v in main.items() if k in MODELS}
    best = min(models, key=lambda k: models[k]["param_mae"]["mean"])
    mae, mean_mae = models[best]["param_mae"]["mean"], main["predict the mean"]["param_mae"]["mean"]
    mrstft, neutral = models[best]["mrstft"]["mean"], main["neutral"]["mrstft"]["mean"]
    best_mrstft = min(models, key=lambda k: models[k]["mrstft"]["mean"])
    return {
        "best_model": best,
        "param_mae": {"best": mae, "predict_the_mean": mean_mae, "ratio": mae / mean_mae, "met": mae <= mean_mae / 2},
        "mrstft": {"best": mrstft, "neutral": neutral, "ratio": mrstft / neutral, "met": mrstft <= neutral / 2},
        "lowest_mrstft_model": best_mrstft,
        "lowest_mrstft": models[best_mrstft]["mrstft"]["mean"],
    }


def ablation_model(main_rows: Sequence[dict[str, Any]]) -> str:
    """The conv-backbone model with the lowest mean validation loss (chosen on val songs, not on test songs)."""
    losses = {m: np.mean([r["val_loss"] for r in main_rows if r["label"] == m]) for m in MODELS if m != "patch"}
    return min(losses, key=losses.__getitem__)


def run_benchmark(bench: Bench) -> dict[str, Any]:
    """Every table; returns the JSON-ready results."""
    b = bench.budget
    for model in MODELS:
        bench.run("main", Variant(model, model), b.seeds)
    chosen = ablation_model(bench.results["main"])
    bench.run("main", Variant(chosen, chosen), b.seeds, loudness=True)
    bench.run("main", Variant(f"{chosen} (no reference)", chosen), b.seeds, reference=False)
    bench.baseline("main", mean_predictor(bench.data.train, bench.space))
    bench.baseline("main", neutral_predictor(bench.space))
    bench.baseline("main", GroundTruthPredictor(bench.space))

    bench.results["augmentation"] = _reuse(bench, chosen, b.ablation_seeds, f"{chosen}, gain jitter (default)")
    bench.run("augmentation", Variant(f"{chosen}, all four", chosen, {"augment": AUGMENTATIONS}), b.ablation_seeds)
    bench.run("augmentation", Variant(f"{chosen}, none", chosen, {"augment": ()}), b.ablation_seeds)
    bench.results["matching"] = _reuse(bench, chosen, b.ablation_seeds, f"{chosen}, reference matching (default)")
    bench.run(
        "matching",
        Variant(f"{chosen}, backbone only", chosen, {"no_reference_match": True}),
        b.ablation_seeds,
    )
    bench.results["transfer"] = _reuse(bench, chosen, b.ablation_seeds, f"{chosen}, pretrained fine-tuned")
    bench.run("transfer", Variant(f"{chosen}, from scratch", chosen, {"init_backbone": "none"}), b.ablation_seeds)
    bench.run("transfer", Variant(f"{chosen}, pretrained frozen", chosen, {"freeze_backbone": True}), b.ablation_seeds)
    bench.results["head"] = _reuse(bench, "crnn", b.grid_seeds, "crnn (depth 2, dropout 0.1, kernel 3)")
    for knob, values in (("depth", (1, 3)), ("dropout", (0.0, 0.3)), ("kernel_size", (1, 5))):
        for value in values:
            bench.run("head", Variant(f"crnn, {knob} {value}", "crnn", {knob: value}), b.grid_seeds)

    diversity = _variations(bench, chosen)
    tables = {group: aggregate(rows) for group, rows in bench.results.items()}
    return {
        "budget": dataclasses.asdict(b),
        "ablation_model": chosen,
        "goals": goals(tables["main"]),
        "tables": tables,
        "diversity": diversity,
        "runs": bench.results,
    }


def _reuse(bench: Bench, label: str, seeds: Sequence[int], new_label: str) -> list[dict[str, Any]]:
    """Main-table rows of ``label`` for ``seeds``, relabelled as an ablation's reference row."""
    return [{**r, "label": new_label} for r in bench.results["main"] if r["label"] == label and r["seed"] in seeds]


def _variations(bench: Bench, deterministic: str) -> dict[str, dict[str, float]]:
    """The CVAE's samples against its own typical mix and the deterministic model, with and without reference.

    Returns the diversity (``spread`` and ``pairwise``, mean and std over seeds) of the sampled variations.
    """
    b = bench.budget
    variant = Variant("cvae, most typical mix", "cvae", {"epochs": b.variation_epochs})
    rows = bench.run("variations", variant, b.ablation_seeds)
    sampled = []
    for row in rows:
        start = time.perf_counter()
        per_clip = evaluate_variations(
            load_model(row["run"]), bench.clips[TEST_SPLIT], bench.suite, b.variations, row["seed"]
        )
        keys = [m for m in (*METRICS, "spread", "pairwise") if m in per_clip[0]]
        sampled.append(
            {
                "label": f"cvae, {b.variations} samples per clip",
                "seed": row["seed"],
                "eval_seconds": round(time.perf_counter() - start, 1),
                **{key: float(np.mean([c[key] for c in per_clip])) for key in keys},
            }
        )
    bench.results["variations"] += sampled
    for label in (deterministic, f"{deterministic} (no reference)"):
        bench.results["variations"] += _reuse(bench, label, b.ablation_seeds, label)
    return {
        key: {"mean": float(np.mean([r[key] for r in sampled])), "std": float(np.std([r[key] for r in sampled]))}
        for key in ("spread", "pairwise")
    }


def _brief(row: dict[str, Any]) -> str:
    return (
        f"MAE {row['param_mae']:.3f}, MRSTFT {row['mrstft']:.3f}, val loss {row['val_loss']:.4f}, "
        f"{row['wall_seconds'] / 60:.1f} min"
    )


def report(results: dict[str, Any]) -> str:
    """All tables as markdown, with the goals."""
    titles = {
        "main": "Held-out test songs (72 clips of 4 s), mean ± std over seeds",
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
    parts.append(
        f"**Goals** (best model by parameter MAE: {g['best_model']}): parameter MAE {g['param_mae']['best']:.3f} vs "
        f"predict-the-mean {g['param_mae']['predict_the_mean']:.3f} (ratio {g['param_mae']['ratio']:.2f}, goal "
        f"<= 0.5: {'met' if g['param_mae']['met'] else 'NOT met'}); MRSTFT {g['mrstft']['best']:.3f} vs neutral "
        f"{g['mrstft']['neutral']:.3f} (ratio {g['mrstft']['ratio']:.2f}, goal <= 0.5: "
        f"{'met' if g['mrstft']['met'] else 'NOT met'})."
    )
    return "\n\n".join(parts) + "\n"


def plot(results: dict[str, Any], path: Path) -> Path:
    """Main-table bars with the goal lines, validation curves of seed 0, and the ablations' MRSTFT."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    tables = results["tables"]
    fig, axes = plt.subplots(2, 2, figsize=(13, 8.5))
    main = tables["main"]
    labels = list(main)
    for ax, metric, goal_of, goal_label in (
        (axes[0, 0], "param_mae", "predict the mean", "half of predict-the-mean"),
        (axes[0, 1], "mrstft", "neutral", "half of neutral"),
    ):
        means = [main[k][metric]["mean"] for k in labels]
        stds = [main[k][metric]["std"] for k in labels]
        ax.barh(labels, means, xerr=stds, color=["C0" if k.split(" ")[0] in MODELS else "C7" for k in labels])
        ax.axvline(main[goal_of][metric]["mean"] / 2, color="C3", linestyle="--", label=f"goal: {goal_label}")
        ax.invert_yaxis()
        ax.set_xlabel(f"{metric} on test clips (lower is better)")
        ax.legend(loc="lower right")
    for row in results["runs"]["main"]:
        if row.get("seed") == 0 and row["label"] in MODELS:
            history = np.genfromtxt(Path(row["run"]) / "history.csv", delimiter=",", names=True)
            axes[1, 0].plot(np.atleast_1d(history["epoch"]), np.atleast_1d(history["val_mae"]), label=row["label"])
    axes[1, 0].axhline(main["predict the mean"]["param_mae"]["mean"], color="C7", linestyle=":", label="mean (test)")
    axes[1, 0].set_xlabel("epoch")
    axes[1, 0].set_ylabel("validation MAE (seed 0)")
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
    axes[1, 1].set_xlabel("mrstft on test clips")
    axes[1, 1].tick_params(axis="y", labelsize=7)
    fig.suptitle("Supervised baselines on held-out songs of the synthetic corpus")
    fig.tight_layout()
    return save_figure(fig, path)


def setup(budget: Budget, runs: Path, progress: Callable[[str], None]) -> Bench:
    """Corpus, backbone, training data, test clips and the default metric suite (each made on first use)."""
    corpus = artifacts.corpus()
    features = artifacts.backbone().features
    if features != FeatureConfig():
        raise RuntimeError(f"the default backbone reads {features}; the patch model assumes FeatureConfig()")
    progress("computing log-mels of the train and val songs")
    data = load_training_data(corpus, ParamSpace(), features, progress=False)
    folders = {TEST_SPLIT: corpus, **{name: artifacts.evaluation_set(name) for name in artifacts.EVALUATION_SETS}}
    clips = {
        name: song_clips(
            corpus_songs(folder, "test")[: budget.test_songs],
            budget.eval_clip_seconds,
            clips_per_song=budget.clips_per_song,
        )
        for name, folder in folders.items()
    }
    sizes = ", ".join(f"{len(c)} clips of the {name}" for name, c in clips.items())
    progress(f"{len(data.train)} train / {len(data.val)} val songs; {sizes}")
    return Bench(budget, data, clips, artifacts.metric_suite(), runs)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="smoke run: 1 epoch of 2 steps, 1 seed, 3 test songs")
    parser.add_argument("--runs", type=Path, help="run folders (default: runs/benchmark_supervised[_quick])")
    parser.add_argument("--out", type=Path, default=Path("outputs"), help="folder for the JSON, tables and plot")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(message)s", datefmt="%H:%M:%S")
    budget = QUICK if args.quick else Budget()
    suffix = "_quick" if args.quick else ""
    runs = args.runs or Path("runs") / f"benchmark_supervised{suffix}"
    start = time.perf_counter()
    bench = setup(budget, runs, lambda message: log.warning(message))
    results = run_benchmark(bench)
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
