"""``python -m supervised.evaluate``: how close come a model's settings, and the mix rendered from them?

Each song of the split gives a clip of ``clip_seconds`` from its middle (:func:`mixenv.clip.song_clips`, with
``preroll_seconds`` rendered before it so compressors and filters have settled, as MixEnv does). A predictor
(:mod:`supervised.predictors`) sets the clip's controls from its stems (and its reference, unless
``--no-reference``); the clip is rendered under them and measured by :class:`rewards.metrics.ClipScorer`, the
very code the env's evaluation uses: MRSTFT and LUFS error against the reference clip, per-clip FAD and anomaly
score against the good-mix model, parameter MAE/MSE against the ground truth (normalised units, controls of
absent roles left out), the audible parameter error (each control's error weighted by how much it moves the mix on
this corpus: :func:`mixenv.artifacts.sensitivity`, measured once), and each control's error.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from tqdm.auto import tqdm

from mixenv import artifacts
from mixenv.clip import Clip, ClipError, song_clips
from mixenv.data import DatasetError
from mixenv.data.atomic import write_json
from mixenv.data.corpus import corpus_songs
from mixenv.table import format_table
from rewards.metrics import METRICS, ClipScorer, MetricSuite, summarize
from supervised.inputs import InputError
from supervised.predictors import ModelPredictor, Predictor


def evaluate_predictor(
    predictor: Predictor, clips: Sequence[Clip], suite: MetricSuite, *, progress: bool = False
) -> list[dict[str, Any]]:
    """One row per clip: the song, the metrics and each control's signed error (present roles and master only)."""
    predictions = predictor.predict([c.excerpt for c in clips])
    scorer = ClipScorer(suite, predictor.space)
    pairs = list(zip(clips, predictions, strict=True))
    return [
        {"song": clip.song.name, "start_seconds": clip.start_seconds, **scorer(clip, settings)}
        for clip, settings in tqdm(pairs, desc=predictor.name, unit="clip", disable=not progress)
    ]


def summarize_rows(rows: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """Mean and spread of every metric over rows, and MAE/MSE per control."""
    per_control: dict[str, dict[str, float]] = {}
    names = dict.fromkeys(name for row in rows for name in row.get("errors", {}))
    for name in names:
        errors = np.array([row["errors"][name] for row in rows if name in row.get("errors", {})])
        per_control[name] = {"mae": float(np.abs(errors).mean()), "mse": float((errors**2).mean()), "n": len(errors)}
    return {"metrics": summarize(rows), "per_control": per_control}


def format_report(name: str, summary: Mapping[str, Any]) -> str:
    """The metrics (mean ± std over clips) and the per-control errors, as a text table."""
    metrics = summary["metrics"]
    rows = [[m, metrics[m]["mean"], metrics[m]["std"]] for m in METRICS if m in metrics]
    title = f"{name}: {next(iter(metrics.values()))['n']} clips"
    controls = [[c, e["mae"], e["mse"]] for c, e in summary["per_control"].items()]
    return "\n\n".join(
        [
            format_table(["metric", "mean", "std"], rows, title=title, digits=4),
            format_table(["control", "MAE", "MSE"], controls, digits=4),
        ]
    )


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``python -m supervised.evaluate``."""
    parser = argparse.ArgumentParser(
        prog="python -m supervised.evaluate",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--model", type=Path, required=True, help="a run folder or model.pt (python -m supervised.train)"
    )
    parser.add_argument("--split", default="test", choices=("train", "val", "test"), help="songs to evaluate on")
    parser.add_argument("--corpus", type=Path, help="corpus folder (default: the default synthetic corpus)")
    parser.add_argument("--clip-seconds", type=float, default=4.0, help="length of each evaluated clip")
    parser.add_argument("--clips-per-song", type=int, default=1, help="evenly spaced clips per song")
    parser.add_argument("--preroll-seconds", type=float, default=0.5, help="audio rendered before each clip")
    parser.add_argument("--no-reference", action="store_true", help="predict without the reference (still scored)")
    parser.add_argument("--backbone-path", help="backbone of the FAD and anomaly metrics (default: the default one)")
    parser.add_argument("--good-mix-path", help="good-mix model of that backbone (default: built on first use)")
    parser.add_argument("--json", type=Path, help="where to write the results (default: MODEL/evaluation_SPLIT.json)")
    parser.add_argument("--no-progress", dest="progress", action="store_false", help="hide the progress bar")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="supervised: %(message)s")
    try:
        predictor = ModelPredictor(args.model, use_reference=not args.no_reference)
        corpus = args.corpus if args.corpus is not None else artifacts.corpus()
        songs = corpus_songs(corpus, args.split)
        clips = song_clips(songs, args.clip_seconds, args.preroll_seconds, args.clips_per_song)
        suite = artifacts.metric_suite(args.backbone_path, args.good_mix_path, corpus_folder=corpus)
        rows = evaluate_predictor(predictor, clips, suite, progress=args.progress)
    except (FileNotFoundError, DatasetError, ClipError, InputError, ValueError) as err:
        print(f"supervised.evaluate: error: {err}", file=sys.stderr)
        return 2
    summary = summarize_rows(rows)
    print(format_report(f"{predictor.name} on {args.split}", summary))
    folder = args.model if args.model.is_dir() else args.model.parent
    out = args.json or folder / f"evaluation_{args.split}.json"
    arguments = {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()}
    write_json(
        out, {"model": str(args.model), "split": args.split, "args": arguments, "songs": rows, "summary": summary}
    )
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
