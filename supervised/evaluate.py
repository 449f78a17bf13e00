"""``python -m supervised.evaluate``: how close come a model's settings, and the mix rendered from them?

Each song of the split gives a clip of ``clip_seconds`` from its middle (rendered with ``preroll_seconds`` before
it, so compressors and filters have settled, as MixEnv does). A predictor sets the clip's controls from its stems
(and its reference, unless ``--no-reference``); the clip is rendered under them and measured with
:func:`rewards.metrics.mix_metrics`, the very code the agents' evaluation uses: MRSTFT and LUFS error against the
reference clip, per-clip FAD and anomaly score against the good-mix model, parameter MAE/MSE against the ground
truth (normalised units, controls of absent roles left out). Errors per control are reported too.

Predictors: a trained model (:class:`ModelPredictor`), and the baselines a model must beat:
:func:`mean_predictor` (the mean ground truth of the training songs, the same for every song) and
:func:`neutral_predictor` (unity settings: the plain sum of the stems); :class:`GroundTruthPredictor` is the floor.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import torch
from tqdm.auto import tqdm

from mixenv.data import DatasetError, Multitrack, SongRef
from mixenv.data.atomic import write_json
from mixenv.data.synth.corpus import corpus_songs, ensure_corpus
from mixenv.params import ParamSpace
from mixenv.render import Renderer
from rewards.metrics import METRICS, MetricSuite, mix_metrics, summarize
from supervised.checkpoint import LoadedModel, load_model
from supervised.data import FeatureBank
from supervised.inputs import InputError, ModelInputs, batch_inputs, clip_logmels

PREDICT_BATCH = 16
"""Clips per forward pass when predicting."""


class Predictor(Protocol):
    """Anything that sets a clip's controls: a trained model or a baseline."""

    name: str
    space: ParamSpace

    def predict(self, clips: Sequence[Multitrack]) -> np.ndarray:
        """Normalised settings ``(clips, params)`` for clips of equal length."""
        ...


class ModelPredictor:
    """A trained model as a :class:`Predictor`.

    Args:
        model: A loaded model, or its checkpoint file or run folder.
        use_reference: Give the model the reference (when clips have one); ``False`` mixes reference-free.
        name: Name in tables (default: the model's preset name).
    """

    def __init__(
        self, model: LoadedModel | str | os.PathLike[str], *, use_reference: bool = True, name: str | None = None
    ) -> None:
        self.loaded = model if isinstance(model, LoadedModel) else load_model(model)
        self.model = self.loaded.model.eval()
        self.space = self.model.space
        self.use_reference = use_reference
        self.name = name or self.model.config.name + ("" if use_reference else " (no reference)")

    def predict(self, clips: Sequence[Multitrack]) -> np.ndarray:
        logmels = [clip_logmels(clip, self.space.roles, self.loaded.features) for clip in clips]
        chunks = [
            self.predict_inputs(batch_inputs(logmels[k : k + PREDICT_BATCH], self.use_reference))
            for k in range(0, len(logmels), PREDICT_BATCH)
        ]
        return np.concatenate(chunks)

    def predict_inputs(self, inputs: ModelInputs) -> np.ndarray:
        """Settings ``(batch, params)`` float32 for ready-made inputs."""
        with torch.inference_mode():
            return self.model(*inputs).numpy()


@dataclass(frozen=True)
class ConstantPredictor:
    """The same settings for every clip."""

    name: str
    space: ParamSpace
    vector: np.ndarray

    def predict(self, clips: Sequence[Multitrack]) -> np.ndarray:
        return np.tile(self.vector.astype(np.float32), (len(clips), 1))


class GroundTruthPredictor:
    """Each song's own ground truth: what a perfect model would say (the floor of every metric)."""

    name = "ground truth"

    def __init__(self, space: ParamSpace) -> None:
        self.space = space

    def predict(self, clips: Sequence[Multitrack]) -> np.ndarray:
        vectors = []
        for clip in clips:
            if clip.settings is None:
                raise InputError(f"song {clip.name!r} has no ground-truth settings; evaluate on the synthetic corpus")
            vectors.append(clip.settings.normalized())
        return np.stack(vectors)


def mean_predictor(bank: FeatureBank, space: ParamSpace) -> ConstantPredictor:
    """Predict-the-mean: each control's mean over the training songs that have its role (neutral if none has)."""
    counts = bank.masks.sum(dim=0)
    mean = (bank.targets * bank.masks).sum(dim=0) / counts.clamp_min(1.0)
    vector = np.where(counts.numpy() > 0, mean.numpy(), space.neutral_vector())
    return ConstantPredictor("predict the mean", space, vector.astype(np.float32))


def neutral_predictor(space: ParamSpace) -> ConstantPredictor:
    """Unity gain, centre, flat EQ, no compression: the raw sum of the stems."""
    return ConstantPredictor("neutral", space, space.neutral_vector())


@dataclass(frozen=True)
class EvalClip:
    """A clip to evaluate on, with the pre-roll rendered before it.

    Attributes:
        song: The clip with its pre-roll in front (stems, reference, ground truth).
        preroll: Samples of pre-roll at the start of ``song``.
        start_seconds: Where the clip (after the pre-roll) starts in the song.
    """

    song: Multitrack
    preroll: int
    start_seconds: float

    @property
    def clip(self) -> Multitrack:
        """The clip itself, without the pre-roll."""
        return self.song.segment(self.preroll, self.song.num_samples - self.preroll)


def eval_clips(
    songs: Sequence[SongRef], clip_seconds: float = 4.0, preroll_seconds: float = 0.5, clips_per_song: int = 1
) -> list[EvalClip]:
    """Evenly spaced clips of every song (the middle one for ``clips_per_song=1``), each with its pre-roll.

    Raises:
        InputError: If a song is shorter than one clip.
    """
    clips = []
    for ref in songs:
        song = ref.load()
        rate = song.sample_rate
        length, preroll = round(clip_seconds * rate), round(preroll_seconds * rate)
        if song.num_samples < length:
            raise InputError(
                f"song {song.name!r} lasts {song.duration_seconds:.2f} s, shorter than clip_seconds={clip_seconds}; "
                "use a shorter clip"
            )
        preroll = min(preroll, song.num_samples - length)
        for start in np.linspace(preroll, song.num_samples - length, clips_per_song + 2)[1:-1].round().astype(int):
            clips.append(EvalClip(song.segment(int(start) - preroll, preroll + length), preroll, int(start) / rate))
    return clips


class ClipRenderer:
    """Renders evaluation clips under normalised settings: the mix ``(2, samples)``, pre-roll cut.

    Args:
        space: Layout of the settings vectors.
    """

    def __init__(self, space: ParamSpace) -> None:
        self.space = space
        self._renderers: dict[int, Renderer] = {}

    def __call__(self, clip: EvalClip, settings: np.ndarray) -> np.ndarray:
        rate = clip.song.sample_rate
        renderer = self._renderers.setdefault(rate, Renderer(rate, self.space.roles))
        return renderer.render(clip.song.stems, self.space.to_physical(settings)).mix[:, clip.preroll :]


class ClipScorer:
    """Renders a clip under settings and measures the mix with :func:`rewards.metrics.mix_metrics`.

    Args:
        suite: The metric suite (``MetricSuite.default()`` for real numbers; any suite in tests).
        space: Layout of the settings vectors.
    """

    def __init__(self, suite: MetricSuite, space: ParamSpace) -> None:
        self.suite, self.space = suite, space
        self.render = ClipRenderer(space)

    def __call__(self, clip: EvalClip, settings: np.ndarray) -> dict[str, float]:
        """Every metric of the mix under ``settings``."""
        target = clip.clip
        return mix_metrics(
            self.suite,
            self.render(clip, settings),
            target.sample_rate,
            reference=target.reference,
            predicted=self.space.to_physical(settings),
            truth=target.settings,
            roles=target.roles,
        )


def evaluate_predictor(
    predictor: Predictor, clips: Sequence[EvalClip], suite: MetricSuite, *, progress: bool = False
) -> list[dict[str, Any]]:
    """One row per clip: the song, the metrics and each control's signed error (present roles and master only)."""
    predictions = predictor.predict([c.clip for c in clips])
    scorer = ClipScorer(suite, predictor.space)
    rows = []
    for clip, settings in tqdm(
        list(zip(clips, predictions, strict=True)), desc=predictor.name, unit="clip", disable=not progress
    ):
        row: dict[str, Any] = {"song": clip.song.name, "start_seconds": clip.start_seconds, **scorer(clip, settings)}
        if clip.song.settings is not None:
            row["errors"] = control_errors(predictor.space, clip.song, settings)
        rows.append(row)
    return rows


def control_errors(space: ParamSpace, song: Multitrack, settings: np.ndarray) -> dict[str, float]:
    """Signed error of normalised ``settings`` against the song's ground truth, per control of a present role.

    Raises:
        InputError: If the song has no ground-truth settings.
    """
    if song.settings is None:
        raise InputError(f"song {song.name!r} has no ground-truth settings; evaluate on the synthetic corpus")
    truth, present = song.settings.normalized(), space.controls_of(song.roles)
    return {name: float(settings[i] - truth[i]) for i, name in enumerate(space.names) if present[i]}


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
    lines = [f"{name}: {next(iter(metrics.values()))['n']} clips", f"{'metric':>14s} | {'mean':>9s} | {'std':>9s}"]
    lines += [f"{m:>14s} | {metrics[m]['mean']:9.4f} | {metrics[m]['std']:9.4f}" for m in METRICS if m in metrics]
    lines += ["", f"{'control':>28s} | {'MAE':>7s} | {'MSE':>7s}"]
    lines += [f"{c:>28s} | {e['mae']:7.4f} | {e['mse']:7.4f}" for c, e in summary["per_control"].items()]
    return "\n".join(lines)


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
        songs = corpus_songs(args.corpus if args.corpus is not None else ensure_corpus(), args.split)
        clips = eval_clips(songs, args.clip_seconds, args.preroll_seconds, args.clips_per_song)
        suite = MetricSuite.default(args.backbone_path, args.good_mix_path)
        rows = evaluate_predictor(predictor, clips, suite, progress=args.progress)
    except (FileNotFoundError, DatasetError, InputError, ValueError) as err:
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
