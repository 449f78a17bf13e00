"""The default model on the edge, measured: ONNX, int8 and pruned variants against torch fp32 in the same run.

Every variant of the shipped default model (:mod:`supervised.export`) is measured on the same inputs:

* latency: one 4 s clip (batch 1), the network alone, median of :data:`RUNS` runs after :data:`WARMUP` (the lowest
  median of :data:`ROUNDS` rounds over all variants), torch with one thread, onnxruntime with
  ``intra_op_num_threads=1``; the log-mel input preparation, which every runtime shares, is timed apart
  (``features``), and ``end to end`` is the two together;
* size: the model file;
* peak memory: the peak RSS of a fresh process that loads the model and runs it on the prepared inputs (its
  ``VmHWM``, the interpreter included; the ONNX processes import onnxruntime and numpy only);
* quality on the default corpus's validation and test splits, on each out-of-domain evaluation set and on the
  selection songs (:data:`SELECTION`; the middle 4 s of each song, :func:`mixenv.clip.song_clips`, 0.5 s pre-roll
  rendered first): MRSTFT of the rendered mix to the reference (:class:`rewards.spectral.SpectralDistance`) and
  parameter MAE to the ground truth (normalised units, present roles and the master). Choices are made on the
  selection songs, the goal judged on the test split.

Variants: torch fp32, ONNX fp32, ONNX int8 dynamic and static, L1-pruned 30/50/70% (same shapes: sparsity alone
is not faster on dense kernels) and channel-pruned 30/50/70% (smaller convolutions), each as pruned and after
:func:`supervised.export.fine_tune` (``ft``: distilled from the unpruned model on the default recipe's data and the
classics training set, :data:`~supervised.export.FINE_TUNE_EPOCHS` epochs of 40 steps on 2 threads), the fine-tuned
channel-pruned ones also with static int8 (reference matching and the output layer kept in float32, as
:func:`supervised.export.quantize_onnx` does). The int8 kept is, by
:func:`choose_int8`, the fastest of those within 2% of torch's MRSTFT on the selection songs. Goal of the
issue: an int8 (or pruned + int8) model at least 3x faster and 4x smaller than torch fp32 with at most 2% worse
MRSTFT (on the test split).

Usage: ``python -m experiments.bench_export [--songs 24] [--clips-per-song 1] [--fine-tune-epochs 5]
[--out outputs/bench_export]``
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from mixenv import artifacts
from mixenv.clip import Clip, ClipRenderer, song_clips
from mixenv.data.atomic import write_json
from mixenv.data.corpus import CorpusConfig, corpus_songs
from mixenv.engines import torch_threads
from mixenv.params import ParamSpace
from mixenv.table import format_table
from rewards.metrics import control_errors
from rewards.spectral import SpectralDistance
from supervised import export
from supervised.checkpoint import load_model
from supervised.default import RECIPE, default_model_path
from supervised.inputs import ModelInputs, batch_inputs, clip_logmels
from supervised.onnx_predictor import OnnxPredictor
from supervised.predictors import ModelPredictor, model_batches
from supervised.train import load_training_data

WARMUP = 10
RUNS = 50
ROUNDS = 3
CLIP_SECONDS = 4.0
PREROLL_SECONDS = 0.5
MRSTFT_BUDGET = 0.02
"""Largest relative MRSTFT increase over torch fp32 that an int8 model may cost (the issue's goal)."""
GOAL_SPEEDUP, GOAL_SHRINK = 3.0, 4.0
PRUNE_AMOUNTS = (0.3, 0.5, 0.7)
FINE_TUNE_THREADS = 2
SELECTION = CorpusConfig(songs=48, seconds=10.0, seed=12)
"""The songs the int8 model is chosen on: the corpus generator's, of another seed than the corpus's, that no model
was trained or chosen on, twice as many as the validation split's. Not that split: the default model's recipe and best
epoch were chosen there, so a retrained model tends to start behind there. Measured 2026-12-04: static int8 of the
model itself (nothing retrained) cost +0.3% on the validation split and +0.1% on these songs, while nine distilled
50%-channel-pruned models cost on average 1.1 points more on the validation split than on these songs (-1.0 to
+2.7) and 2.5 points more than on the test split."""

MEMORY_CHILD = {
    "torch": """
import sys, numpy as np, torch
torch.set_num_threads(1)
from supervised.checkpoint import load_model
model = load_model(sys.argv[1]).module.eval()
data = np.load(sys.argv[2])
inputs = [torch.from_numpy(data[k]) for k in ("stems", "presence", "reference")]
with torch.inference_mode():
    for _ in range(10):
        model(*inputs)
print(next(line.split()[1] for line in open("/proc/self/status") if line.startswith("VmHWM")))
""",
    "onnx": """
import sys, numpy as np, onnxruntime as ort
options = ort.SessionOptions()
options.intra_op_num_threads = 1
session = ort.InferenceSession(sys.argv[1], options, providers=["CPUExecutionProvider"])
data = np.load(sys.argv[2])
feed = {i.name: data[i.name] for i in session.get_inputs()}
for _ in range(10):
    session.run(None, feed)
print(next(line.split()[1] for line in open("/proc/self/status") if line.startswith("VmHWM")))
""",
}
"""What each memory-measuring process runs: load the model (argv[1]), run it on the saved inputs (argv[2]) and
print its peak RSS in KiB (``VmHWM``: ``ru_maxrss`` would carry over the forking parent's peak through exec)."""


@dataclass(frozen=True)
class Variant:
    """One model to measure: its name, file and runtime, and how it was made."""

    name: str
    path: Path
    runtime: str
    int8: str | None = None
    pruning: str | None = None


def make_variants(folder: Path, corpus: Path, fine_tune_epochs: int) -> list[Variant]:
    """Export, quantise, prune and fine-tune the default model into ``folder`` (fine-tuning skipped for 0 epochs)."""
    source = default_model_path()
    fp32 = export.export_onnx(source, folder / "fp32.onnx", corpus=corpus)
    variants = [Variant("torch fp32", source, "torch"), Variant("onnx fp32", fp32, "onnx")]
    for mode in export.INT8_MODES:
        path = export.quantize_onnx(fp32, folder / f"int8-{mode}.onnx", mode, corpus=corpus)
        variants.append(Variant(f"onnx int8 {mode}", path, "onnx", int8=mode))
    data = None
    if fine_tune_epochs:
        loaded = load_model(source)
        remixing = RECIPE.remixing()
        space, features = loaded.module.space, loaded.features
        data = load_training_data(corpus, space, features, more=export.DISTIL_MORE, remixing=remixing, progress=False)
    for structured, kind in ((False, "L1"), (True, "channels")):
        for amount in PRUNE_AMOUNTS:
            name = f"{kind}-{round(100 * amount)}%"
            stem = folder / name.replace("%", "")
            pruned = export.prune_model(source, stem.with_suffix(".pt"), amount, structured=structured)
            path = export.export_onnx(pruned, stem.with_suffix(".onnx"), check=False)
            variants.append(Variant(f"onnx {name}", path, "onnx", pruning=name))
            if data is None:
                continue
            with torch_threads(FINE_TUNE_THREADS):
                tuned = export.fine_tune(pruned, f"{stem}-ft.pt", epochs=fine_tune_epochs, data=data, teacher=source)
            path = export.export_onnx(tuned, f"{stem}-ft.onnx", check=False)
            variants.append(Variant(f"onnx {name} ft", path, "onnx", pruning=f"{name}, fine-tuned"))
            if structured:
                path = export.quantize_onnx(path, f"{stem}-ft-int8.onnx", "static", corpus=corpus)
                variants.append(Variant(f"onnx {name} ft int8 static", path, "onnx", "static", f"{name}, fine-tuned"))
    return variants


def runner(variant: Variant) -> Callable[[ModelInputs], np.ndarray]:
    """The variant's network on prepared inputs, one thread."""
    if variant.runtime == "torch":
        return ModelPredictor(variant.path).predict_inputs
    return OnnxPredictor(variant.path, threads=1).predict_inputs


def median_seconds(call: Callable[[], object], warmup: int = WARMUP, runs: int = RUNS) -> float:
    """Median wall time of ``call`` over ``runs`` after ``warmup`` untimed ones."""
    for _ in range(warmup):
        call()
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        call()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def network_seconds(runners: Sequence[Callable[[], object]], rounds: int = ROUNDS) -> list[float]:
    """Each runner's latency: the lowest of its medians over ``rounds`` rounds that take every runner in turn, so
    that a burst of load from other processes on a shared machine does not fall on one variant alone."""
    medians = [[median_seconds(run) for run in runners] for _ in range(rounds)]
    return [min(column) for column in zip(*medians, strict=True)]


def peak_memory_mb(variant: Variant, inputs_file: Path) -> float:
    """Peak RSS (MB) of a fresh process that loads ``variant`` and runs it 10 times on the saved inputs."""
    code = MEMORY_CHILD[variant.runtime]
    done = subprocess.run(
        [sys.executable, "-c", code, str(variant.path), str(inputs_file)], capture_output=True, text=True, check=True
    )
    return int(done.stdout.split()[-1]) / 1024


def quality_sets(corpus: Path, songs: int, clips_per_song: int = 1) -> dict[str, list[Clip]]:
    """The clips quality is measured on: the corpus's val and test splits, each out-of-domain evaluation set, then
    the selection songs (``clips_per_song`` evenly spaced clips of each of the first ``songs`` songs of each; of
    twice as many selection songs, every split of :data:`SELECTION`, built in the data cache on first use)."""
    sources = {"val": (corpus, "val", songs), "test": (corpus, "test", songs)}
    sources |= {name: (artifacts.evaluation_set(name), "test", songs) for name in artifacts.EVALUATION_SETS}
    sources["selection"] = (artifacts.corpus(SELECTION), None, 2 * songs)
    return {
        name: song_clips(corpus_songs(path, split)[:count], CLIP_SECONDS, PREROLL_SECONDS, clips_per_song)
        for name, (path, split, count) in sources.items()
    }


def quality(settings: np.ndarray, clips: Sequence[Clip], space: ParamSpace) -> dict[str, float]:
    """Mean MRSTFT of the rendered clips to their references, and mean parameter MAE to the ground truth."""
    distance, renderer = SpectralDistance(), ClipRenderer(space.roles)
    mrstft, mae = [], []
    for clip, vector in zip(clips, settings, strict=True):
        excerpt = clip.excerpt
        physical = space.to_physical(vector)
        mix = renderer.render(clip, physical).mix
        mrstft.append(distance.distance(mix, excerpt.reference))
        mae.append(np.mean(np.abs(list(control_errors(physical, excerpt.settings, excerpt.roles).values()))))
    return {"mrstft": float(np.mean(mrstft)), "param_mae": float(np.mean(mae))}


def choose_int8(rows: Sequence[dict[str, Any]]) -> str | None:
    """The int8 variant to keep: the fastest whose MRSTFT on the selection songs is within :data:`MRSTFT_BUDGET`
    of torch fp32's."""
    eligible = [r for r in rows if r["int8"] and r["quality"]["selection"]["mrstft_change"] <= MRSTFT_BUDGET]
    return min(eligible, key=lambda r: r["network_ms"])["name"] if eligible else None


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``python -m experiments.bench_export``."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--songs", type=int, default=24, help="songs of each set to score (default 24)")
    parser.add_argument(
        "--clips-per-song",
        type=int,
        default=1,
        help="evenly spaced clips of each song to score (default 1, the middle; more narrow the noise)",
    )
    parser.add_argument(
        "--fine-tune-epochs", type=int, default=export.FINE_TUNE_EPOCHS, help="fine-tuning of the pruned (0: none)"
    )
    parser.add_argument("--out", type=Path, default=Path("outputs/bench_export"), help="results folder")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    corpus = artifacts.corpus()
    variants = make_variants(args.out / "models", corpus, args.fine_tune_epochs)
    sets = quality_sets(corpus, args.songs, args.clips_per_song)
    clips = sets["test"]
    excerpts = [clip.excerpt for clip in clips]
    loaded = load_model(default_model_path())
    roles, features = loaded.module.space.roles, loaded.features
    batches = {
        name: list(model_batches([clip.excerpt for clip in set_clips], roles, features))
        for name, set_clips in sets.items()
    }
    one = batch_inputs([clip_logmels(excerpts[0], roles, features)])
    inputs_file = args.out / "inputs.npz"
    np.savez(inputs_file, **{k: v.numpy() for k, v in one._asdict().items()})
    features_ms = 1e3 * median_seconds(lambda: batch_inputs([clip_logmels(excerpts[0], roles, features)]))
    runs = [runner(variant) for variant in variants]
    latencies = network_seconds([lambda run=run: run(one) for run in runs])
    rows: list[dict[str, Any]] = []
    for variant, run, latency in zip(variants, runs, latencies, strict=True):
        scores = {
            name: quality(np.concatenate([run(inputs) for inputs in batches[name]]), sets[name], loaded.module.space)
            for name in sets
        }
        rows.append(
            {
                "name": variant.name,
                "file": str(variant.path),
                "int8": variant.int8,
                "pruning": variant.pruning,
                "network_ms": 1e3 * latency,
                "size_mb": variant.path.stat().st_size / 1e6,
                "peak_rss_mb": peak_memory_mb(variant, inputs_file),
                **scores["test"],
                "quality": scores,
            }
        )
        print(f"measured {variant.name}", file=sys.stderr)
    base = rows[0]
    for row in rows:
        row["speedup"] = base["network_ms"] / row["network_ms"]
        row["end_to_end_speedup"] = (base["network_ms"] + features_ms) / (row["network_ms"] + features_ms)
        row["shrink"] = base["size_mb"] / row["size_mb"]
        row["memory_ratio"] = row["peak_rss_mb"] / base["peak_rss_mb"]
        for name, score in row["quality"].items():
            score["mrstft_change"] = score["mrstft"] / base["quality"][name]["mrstft"] - 1.0
        row["mrstft_change"] = row["quality"]["test"]["mrstft_change"]
        row["goal_met"] = bool(
            row["speedup"] >= GOAL_SPEEDUP and row["shrink"] >= GOAL_SHRINK and row["mrstft_change"] <= MRSTFT_BUDGET
        )
    chosen = choose_int8(rows)
    others = [name for name in sets if name != "test"]
    headers = ["variant", "net ms", "speedup", "e2e x", "MB", "shrink", "RSS MB", "MRSTFT", "change", "MAE"]
    headers += [f"change {name}" for name in others] + ["goal"]
    table = [
        [
            r["name"],
            r["network_ms"],
            r["speedup"],
            r["end_to_end_speedup"],
            r["size_mb"],
            r["shrink"],
            r["peak_rss_mb"],
            r["mrstft"],
            f"{r['mrstft_change']:+.1%}",
            r["param_mae"],
            *(f"{r['quality'][name]['mrstft_change']:+.1%}" for name in others),
            "yes" if r["goal_met"] else "no",
        ]
        for r in rows
    ]
    title = (
        f"default model, {len(clips)} test clips of {CLIP_SECONDS:g} s; batch 1, 1 thread; features (shared) "
        f"{features_ms:.1f} ms; int8 kept (on the selection songs): {chosen}; MRSTFT and MAE on test, 'change' vs "
        "torch fp32"
    )
    print(format_table(headers, table, title=title, digits=3))
    out = args.out / "results.json"
    results = {
        "clips": len(clips),
        "clip_seconds": CLIP_SECONDS,
        "features_ms": features_ms,
        "int8_kept": chosen,
        "rule": f"fastest int8 within {MRSTFT_BUDGET:.0%} of torch fp32's MRSTFT on the selection songs",
        "selection": dataclasses.asdict(SELECTION),
        "goal": {"speedup": GOAL_SPEEDUP, "shrink": GOAL_SHRINK, "mrstft_change": MRSTFT_BUDGET},
        "rows": rows,
    }
    write_json(out, json.loads(json.dumps(results)))
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
