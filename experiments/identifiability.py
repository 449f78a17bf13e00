"""Which mix settings the audio reveals: per-control sensitivity on held-out songs, beside per-control errors.

``python -m experiments.identifiability [--model RUN] [--songs N] [--out DIR]``

Parameter MAE treats every control alike, but some barely change the sound: a peaking EQ's centre when its gain
is near 0 dB, a compressor's ratio when its threshold sits above the signal, a fader offset that the limiter
absorbs. No method can recover such a control from audio; its error is set by the corpus's prior, not by the
model. This experiment measures that, per control, on the test songs (the middle 4 s clip of each):

1. Each control's typical move: the MAE of predict-the-mean on it (its spread around the training mean).
2. Its sensitivity: the control alone is moved from the ground truth by that typical move, up and down (clipped
   to its range), the clip is rendered, and the multi-resolution STFT distance to the ground-truth render is
   measured; the mean over songs and both directions.
3. A yardstick measured in the same run: the distance that a 0.25 dB level change of the whole ground-truth mix
   gives, less than a listener notices. A control whose typical move changes the audio less than that is
   *weakly identifiable*.
4. With ``--model``, the model's MAE per control and its ratio to predict-the-mean's, so one sees whether the
   model fails where the audio is silent or where it speaks.
5. What the prior makes predictable: the *colouration oracle*, a ridge fit per control (on the training songs)
   from exactly the numbers the corpus prior draws that control from (the stem's recorded colouration: peak,
   tilt, resonance, rumble, noise; and the reference's loudness and peak, from the corpus manifest) to the ground
   truth. What it misses is the prior's own randomness (a compressor ratio drawn log-uniformly, say), which a
   learned predictor can only hear where it moves the mix; its ratio, and the per-control best of it and the
   model, say how far such a predictor could go.

Prints a table and writes ``identifiability.json`` and ``identifiability.png`` to ``--out`` (atomically). About a
minute on 2 cores.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import scipy.stats

from mixenv import artifacts
from mixenv.clip import Clip, song_clips
from mixenv.data import Multitrack
from mixenv.data.atomic import write_json
from mixenv.data.corpus import corpus_songs, read_manifest
from mixenv.data.synth.prior import RESONANT_DB
from mixenv.params import ParamSpace
from mixenv.plots import save_figure
from mixenv.table import format_table
from rewards.metrics import audible_parameter_error, control_errors
from rewards.sensitivity import YARDSTICK_DB, ground_truths, measure_sensitivity, typical_moves
from supervised.predictors import ModelPredictor, Predictor


@dataclass(frozen=True)
class ControlReport:
    """One control's row: its typical move, how much that move changes the audio, and the errors on it."""

    name: str
    typical_move: float
    sensitivity: float
    mean_mae: float
    model_mae: float | None = None
    oracle_mae: float | None = None

    @property
    def ratio(self) -> float | None:
        """Model MAE over predict-the-mean MAE (lower is better; None without a model)."""
        return None if self.model_mae is None else self.model_mae / max(self.mean_mae, 1e-12)


def mean_abs_errors(predictor: Predictor, clips: Sequence[Clip]) -> dict[str, float]:
    """MAE per control of ``predictor`` over ``clips`` (controls of absent roles skipped per clip)."""
    predictions = predictor.predict([c.excerpt for c in clips])
    errors: dict[str, list[float]] = {}
    for clip, settings in zip(clips, predictions, strict=True):
        truth = clip.song.settings
        if truth is None:
            raise ValueError(f"song {clip.song.name!r} has no ground-truth settings; measure on the synthetic corpus")
        predicted = predictor.space.to_physical(settings)
        for name, error in control_errors(predicted, truth, clip.song.roles).items():
            errors.setdefault(name, []).append(abs(error))
    return {name: float(np.mean(values)) for name, values in errors.items()}


class ColourationOracle:
    """Each control predicted from what the corpus prior draws it from: a per-control ridge fit (a :class:`Predictor`).

    Args:
        space: The settings space.
        summaries: Corpus manifest entries by song name (each with ``colouration``, ``reference_lufs`` and
            ``reference_peak_dbfs``); predictions are for these songs.
        weights: ``(params, features)`` fitted weights (see :meth:`fit`).
    """

    name = "colouration oracle"

    def __init__(self, space: ParamSpace, summaries: Mapping[str, Mapping[str, Any]], weights: np.ndarray) -> None:
        self.space, self.summaries, self.weights = space, summaries, weights

    @classmethod
    def fit(
        cls,
        space: ParamSpace,
        summaries: Mapping[str, Mapping[str, Any]],
        train: Sequence[tuple[str, np.ndarray]],
        ridge: float = 1e-3,
    ) -> ColourationOracle:
        """Fit on ``train``: (song name, its normalised ground truth) pairs; a control only on songs with its role."""
        size, neutral = (
            len(oracle_features(next(iter(summaries.values())), "master_comp_ratio")),
            space.neutral_vector(),
        )
        weights = np.zeros((space.size, size))
        present = {song: space.controls_of(summaries[song]["colouration"]) for song, _ in train}
        for index, name in enumerate(space.names):
            rows = [(song, truth) for song, truth in train if present[song][index]]
            if not rows:  # no training song has the role: the neutral value, as predict-the-mean does
                weights[index, 0] = neutral[index]
                continue
            x = np.array([oracle_features(summaries[song], name) for song, _ in rows])
            y = np.array([truth[index] for _, truth in rows])
            weights[index] = np.linalg.solve(x.T @ x + ridge * len(rows) * np.eye(size), x.T @ y)
        return cls(space, summaries, weights)

    def predict(self, clips: Sequence[Multitrack]) -> np.ndarray:
        """Normalised settings ``(clips, params)``, clipped to [-1, 1]."""
        rows = [
            [
                float(oracle_features(self.summaries[clip.name], name) @ w)
                for name, w in zip(self.space.names, self.weights, strict=True)
            ]
            for clip in clips
        ]
        return np.clip(np.array(rows, dtype=np.float32), -1.0, 1.0)


def oracle_features(summary: Mapping[str, Any], name: str) -> np.ndarray:
    """Regression inputs for control ``name`` of one song: a constant, its stem's colouration (zeros for an absent
    stem or a bus control), and the reference's loudness and peak."""
    stem = summary["colouration"].get(name.split(".", 1)[0]) if "." in name else None
    if stem is None:
        colouration = np.zeros(8)
    else:
        resonant = float(stem["resonance_db"] > RESONANT_DB)  # the prior aims the mid band only at these
        colouration = np.array(
            [
                stem["peak_dbfs"],
                stem["low_shelf_db"],
                stem["high_shelf_db"],
                resonant,
                resonant * np.log(stem["resonance_hz"]),
                resonant * stem["resonance_db"],
                float(stem["rumble_dbfs"] is not None),
                stem["noise_dbfs"],
            ]
        )
    return np.array([1.0, *colouration, summary["reference_lufs"], summary["reference_peak_dbfs"]])


def corpus_oracle(corpus: Path, space: ParamSpace) -> ColourationOracle:
    """The :class:`ColourationOracle` of a synthetic corpus, fitted on its training songs."""
    summaries = {song["name"]: song for song in read_manifest(corpus)["songs"]}
    songs, truths = corpus_songs(corpus, "train"), ground_truths(corpus, "train", space)
    train = [(song.name, settings) for song, (settings, _) in zip(songs, truths, strict=True)]
    return ColourationOracle.fit(space, summaries, train)


def measure(
    songs: int | None = None, model: str | Path | None = None, *, progress: bool = True
) -> tuple[list[ControlReport], float]:
    """Every control's :class:`ControlReport` on the test songs (the first ``songs`` of them), and the yardstick."""
    space, corpus = ParamSpace(), artifacts.corpus()
    clips = song_clips(corpus_songs(corpus, "test")[:songs])
    # predict-the-mean's MAE per control: each control's typical move (from the settings files, as the weights of
    # the audible parameter error are measured)
    test = ground_truths(corpus, "test", space)[:songs]
    mean_mae = typical_moves(ground_truths(corpus, "train", space), test, space)
    model_mae = mean_abs_errors(ModelPredictor(model), clips) if model is not None else {}
    oracle_mae = mean_abs_errors(corpus_oracle(corpus, space), clips)
    sensitivity, yardstick = measure_sensitivity(clips, mean_mae, space, progress=progress)
    reports = [
        ControlReport(name, mean_mae[name], sensitivity[name], mean_mae[name], model_mae.get(name), oracle_mae[name])
        for name in space.names
        if name in sensitivity
    ]
    return reports, yardstick


def goal_ratios(reports: Sequence[ControlReport], yardstick: float) -> dict[str, Any]:
    """Model MAE over predict-the-mean MAE, averaged over all controls and over the audible ones only."""

    def ratio(rows: Sequence[ControlReport], errors: Callable[[ControlReport], float | None]) -> float | None:
        values = [errors(r) for r in rows]
        if not rows or any(v is None for v in values):
            return None
        return float(np.mean(values) / np.mean([r.mean_mae for r in rows]))

    def best(r: ControlReport) -> float | None:
        return None if r.model_mae is None or r.oracle_mae is None else min(r.model_mae, r.oracle_mae)

    audible = [r for r in reports if r.sensitivity >= yardstick]
    with_model = [r for r in reports if r.ratio is not None]
    weights = {r.name: r.sensitivity for r in reports}
    audible_error = (
        audible_parameter_error({r.name: r.model_mae for r in with_model}, weights)
        / audible_parameter_error({r.name: r.mean_mae for r in with_model}, weights)
        if with_model
        else None
    )
    return {
        "audible_error_ratio": audible_error,
        "controls": len(reports),
        "audible_controls": len(audible),
        "ratio_all": ratio(reports, lambda r: r.model_mae),
        "ratio_audible": ratio(audible, lambda r: r.model_mae),
        "ratio_oracle": ratio(reports, lambda r: r.oracle_mae),
        "ratio_best_of_model_and_oracle": ratio(reports, best),
        "spearman_sensitivity_vs_ratio": (
            float(scipy.stats.spearmanr([r.sensitivity for r in with_model], [r.ratio for r in with_model])[0])
            if len(with_model) > 2
            else None
        ),
    }


def report(reports: Sequence[ControlReport], yardstick: float, model: str | None) -> str:
    """The table, most audible control first."""
    headers = ["control", "typical move", "MRSTFT of the move", "mean MAE", "oracle", "model MAE", "ratio", ""]
    rows = [
        [
            r.name,
            r.typical_move,
            r.sensitivity,
            r.mean_mae,
            None if r.oracle_mae is None else f"{r.oracle_mae / max(r.mean_mae, 1e-12):.2f}",
            r.model_mae,
            None if r.ratio is None else f"{r.ratio:.2f}",
            "" if r.sensitivity >= yardstick else "(weak)",
        ]
        for r in sorted(reports, key=lambda r: -r.sensitivity)
    ]
    if not model:  # no model columns
        headers, rows = headers[:5] + headers[7:], [row[:5] + row[7:] for row in rows]
    title = f"yardstick: a {YARDSTICK_DB:g} dB level change of the whole mix reads {yardstick:.3f} (MRSTFT)"
    lines = [format_table(headers, rows, title=title)]
    goals = goal_ratios(reports, yardstick)
    lines.append(f"{goals['audible_controls']} of {goals['controls']} controls move the audio more than the yardstick")
    if goals["ratio_all"] is not None:
        lines.append(
            f"model MAE / predict-the-mean MAE: {goals['ratio_all']:.2f} over all controls, "
            f"{goals['ratio_audible']:.2f} over the identifiable ones (the issue's goal is 0.5 over all); "
            f"Spearman correlation of sensitivity with that ratio, per control: "
            f"{goals['spearman_sensitivity_vs_ratio']:.2f}"
        )
        lines.append(
            f"audible parameter error from these per-control MAEs (each weighted by its sensitivity), model / "
            f"predict-the-mean: {goals['audible_error_ratio']:.2f} (the benchmarks' param_audible measures each song "
            f"from its settings' nearest equivalent in gain staging, rewards.metrics.nearest_equivalent; goal 0.5)"
        )
    if goals["ratio_oracle"] is not None:
        lines.append(
            f"colouration oracle MAE / predict-the-mean MAE: {goals['ratio_oracle']:.2f}"
            + (
                f"; the better of model and oracle per control: {goals['ratio_best_of_model_and_oracle']:.2f}"
                if goals["ratio_best_of_model_and_oracle"] is not None
                else ""
            )
        )
    return "\n".join(lines)


def plot(reports: Sequence[ControlReport], yardstick: float, path: Path) -> Path:
    """Sensitivity per control (bars, log scale) and, with a model, its MAE ratio to predict-the-mean (dots)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = sorted(reports, key=lambda r: r.sensitivity)
    has_model = rows[0].model_mae is not None
    fig, axes = plt.subplots(1, 2 if has_model else 1, figsize=(12 if has_model else 7, 9), sharey=True, squeeze=False)
    names = [r.name for r in rows]
    colours = ["C0" if r.sensitivity >= yardstick else "C7" for r in rows]
    axes[0, 0].barh(names, [r.sensitivity for r in rows], color=colours)
    axes[0, 0].axvline(yardstick, color="C3", linestyle="--", label=f"a {YARDSTICK_DB:g} dB level change of the mix")
    axes[0, 0].set_xscale("log")
    axes[0, 0].set_xlabel("MRSTFT to the ground truth when the control alone moves by its typical spread")
    axes[0, 0].legend(loc="lower right")
    axes[0, 0].tick_params(axis="y", labelsize=7)
    if has_model:
        axes[0, 1].scatter([r.ratio for r in rows], names, color=colours, label="model")
        if rows[0].oracle_mae is not None:
            oracle = [r.oracle_mae / max(r.mean_mae, 1e-12) for r in rows]
            axes[0, 1].scatter(oracle, names, marker="x", color="C2", label="colouration oracle")
        axes[0, 1].axvline(1.0, color="C7", linestyle=":", label="predict-the-mean")
        axes[0, 1].axvline(0.5, color="C3", linestyle="--", label="the issue's goal (on average)")
        axes[0, 1].set_xlabel("model MAE / predict-the-mean MAE, per control")
        axes[0, 1].legend(loc="lower left")
    fig.suptitle("Which controls the audio reveals (held-out songs; grey: weaker than the yardstick)")
    fig.tight_layout()
    return save_figure(fig, path)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", help="a supervised run folder or model.pt whose per-control MAE to show")
    parser.add_argument("--songs", type=int, default=None, help="use only the first N test songs (default: all)")
    parser.add_argument("--out", type=Path, default=Path("outputs"), help="folder for the JSON and the plot")
    args = parser.parse_args(argv)
    reports, yardstick = measure(args.songs, args.model)
    print(report(reports, yardstick, args.model))
    result = {
        "yardstick_db": YARDSTICK_DB,
        "yardstick_mrstft": yardstick,
        "model": args.model,
        "goals": goal_ratios(reports, yardstick),
        "controls": [{**vars(r), "ratio": r.ratio} for r in reports],
    }
    write_json(args.out / "identifiability.json", result)
    plot(reports, yardstick, args.out / "identifiability.png")
    print(f"wrote {args.out}/identifiability.{{json,png}}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
