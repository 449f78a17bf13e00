"""Do the reward terms notice bad mixes, know good mixes they have not seen, and point toward the right mix?

On held-out songs of the default corpus and on the out-of-domain evaluation sets, with the default pretrained
backbone (shipped) and good-mix model (built on first use), four measurements:

1. Anomaly detection: ROC-AUC of good mixes against each corruption of ``rewards.corrupt`` at full strength, for
   the shipped detector and for detectors on the other feature sets (and the per-clip FAD as a detector), on the
   corpus's test songs and on each evaluation set's songs. The goals: a mean AUC of at least 0.95 in domain and
   0.9 out of domain.
2. False alarms: how anomalous each set's own good mixes (its references) score, and the share above 2 (two
   standard deviations above a typical good mix of the training pool). The goal: out-of-domain references within
   0.5 of in-domain ones on the anomaly scale.
3. Direction (corpus test songs): for every song, settings are sampled around the ground truth (normalised
   settings plus noise of increasing scale) and each term's score is compared with the settings' distance from
   the ground truth (mean absolute difference in normalised space) by Spearman correlation. A reward that points
   toward the right mix has a NEGATIVE correlation (higher score, closer settings). Reported pooled over all
   songs and as the mean of per-song correlations (what one RL episode sees).
4. Set-level FAD and FAD-∞ (Chung & Chen-style extrapolation over subset sizes) of the good held-out mixes and
   of each corrupted set against the good-mix statistics (corpus test songs).

Writes ``eval_rewards.png`` (ROC curves and score-vs-distance scatters) and ``eval_rewards.json`` to ``--out``.
Everything random is drawn from ``--seed``.
"""

from __future__ import annotations

import argparse
import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from scipy.stats import rankdata, spearmanr
from tqdm.auto import tqdm

from mixenv import artifacts
from mixenv.backbone import AudioEmbedder
from mixenv.data import Multitrack, list_songs
from mixenv.data.atomic import write_json
from mixenv.params import ParamSpace
from mixenv.plots import save_figure
from mixenv.render import Renderer
from mixenv.table import format_table
from rewards.anomaly import FEATURE_SETS, AnomalyDetector, AnomalyReward, mix_features
from rewards.base import ScoreContext
from rewards.corrupt import CORRUPTIONS
from rewards.descriptors import StemSummary, describe
from rewards.fad import FADReward, GaussianStats, evaluate_fad, frechet_distance
from rewards.goodmix import GoodMixModel, build_good_mix_model
from rewards.loudness import LoudnessReward
from rewards.spectral import SpectralDistance

TERMS = ("spectral", "loudness", "fad", "anomaly")
AUC_GOAL = 0.95
OOD_AUC_GOAL = 0.9
FALSE_ALARM = 2.0
"""A good mix scoring above this anomaly (two standard deviations above a typical training good mix) is a false
alarm."""
TEST_SPLIT = "corpus test split"


@dataclass(frozen=True)
class Clip:
    """One evaluated mix: its features for the detectors, frame embeddings for FAD, and its per-clip FAD."""

    features: np.ndarray
    frames: np.ndarray
    clip_fad: float


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--split", default="test", choices=("train", "val", "test"), help="songs to evaluate")
    parser.add_argument("--seed", type=int, default=0, help="seeds corruptions, sampled settings and FAD-∞ subsets")
    parser.add_argument("--clip-starts", type=float, nargs="+", default=[0.0, 3.0, 6.0], help="clip starts (s)")
    parser.add_argument("--settings-per-song", type=int, default=10, help="sampled settings per song for (2)")
    parser.add_argument("--max-noise", type=float, default=0.8, help="largest noise scale in normalised units")
    parser.add_argument(
        "--variations",
        type=int,
        default=None,
        help="fit a good-mix model here with this many varied mixes per training song (default: the shipped model)",
    )
    parser.add_argument("--out", type=Path, default=Path("outputs"), help="folder for the PNG and the JSON")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING, format="mixenv: %(message)s")

    start = time.perf_counter()
    checkpoint, model = artifacts.reward_models()
    if args.variations is not None:
        pool = artifacts.good_mix_pool()  # the default model's songs, with another number of variations
        model = build_good_mix_model(checkpoint, pool, variations=args.variations, seed=args.seed)
    sets = {
        TEST_SPLIT: artifacts.corpus(),
        **{name: artifacts.evaluation_set(name) for name in artifacts.EVALUATION_SETS},
    }
    setup_seconds = time.perf_counter() - start
    embedder = AudioEmbedder(checkpoint, checkpoint.sample_rate)
    print(f"{model.clip_seconds:g} s clips; good-mix model: {model.info}\n")

    per_set = {}
    for name, folder in sets.items():
        songs = [ref.load() for ref in list_songs("synthetic", folder, args.split if name == TEST_SPLIT else "test")]
        clips = _corrupted_clips(songs, embedder.at_rate(songs[0].sample_rate), model, args)
        per_set[name] = {"songs": songs, "clips": clips, "detection": _detection(clips, model)}
    songs, clips, detection = (per_set[TEST_SPLIT][key] for key in ("songs", "clips", "detection"))
    _print_detection(detection, model.detector.feature_set)
    carry = _carry_over(per_set, model)
    _print_carry_over(carry)
    direction = _direction(songs, embedder.at_rate(songs[0].sample_rate), model, args)
    _print_direction(direction["spearman"])
    fad_table = _set_fad(clips, model.fad, args.seed)
    _print_fad(fad_table)

    png = _plot(detection, model.detector.feature_set, direction, args.out / "eval_rewards.png")
    seconds = time.perf_counter() - start
    write_json(
        args.out / "eval_rewards.json",
        {
            "split": args.split,
            "songs": len(songs),
            "seed": args.seed,
            "clip_seconds": model.clip_seconds,
            "good_mix_model": model.info,
            "auc": {fs: d["auc"] for fs, d in detection.items()},
            "sets": carry,
            "spearman": direction["spearman"],
            "fad": fad_table,
            "seconds": {"setup": round(setup_seconds, 1), "total": round(seconds, 1)},
        },
    )
    print(f"\nwrote {png} and {args.out / 'eval_rewards.json'} in {seconds:.0f} s (setup {setup_seconds:.0f} s)")


def _corrupted_clips(
    songs: list[Multitrack], embedder: AudioEmbedder, model: GoodMixModel, args: argparse.Namespace
) -> dict[str, list[Clip]]:
    """Good and corrupted (strength 0.5 and 1) renders of every clip, embedded: set name -> clips."""
    rng = np.random.default_rng([args.seed, 0])
    sets: dict[str, list[Clip]] = {"good": []}
    length = round(model.clip_seconds * songs[0].sample_rate)
    for song in tqdm(songs, desc="corrupted clips", unit="song"):
        renderer = Renderer(song.sample_rate)
        for start_seconds in args.clip_starts:
            part = song.segment(round(start_seconds * song.sample_rate), length)
            stems = StemSummary.of(part.stems, song.sample_rate)
            good = renderer.render(part.stems, part.settings).mix
            sets["good"].append(_clip(good, stems, embedder, model))
            for name, corrupt in CORRUPTIONS.items():
                for strength in (0.5, 1.0):
                    mix = corrupt(part.stems, part.settings, renderer, rng, strength)
                    sets.setdefault(f"{name}@{strength:g}", []).append(_clip(mix, stems, embedder, model))
    return sets


def _clip(mix: np.ndarray, stems: StemSummary, embedder: AudioEmbedder, model: GoodMixModel) -> Clip:
    embedding, frames = embedder(mix)
    return Clip(
        mix_features(embedding, frames, describe(mix, embedder.sample_rate, stems)),
        frames,
        frechet_distance(model.fad, GaussianStats.fit(frames)),
    )


def _detection(clips: Mapping[str, list[Clip]], model: GoodMixModel) -> dict[str, dict]:
    """AUC and ROC of good vs each full-strength corruption, per detector (feature set) and for per-clip FAD."""
    detectors = {
        feature_set: model.detector
        if feature_set == model.detector.feature_set
        else AnomalyDetector.fit(model.features, weights=model.weights(), feature_set=feature_set)
        for feature_set in FEATURE_SETS
    }
    scorers = {fs: (lambda cs, d=d: d.score(np.stack([c.features for c in cs]))) for fs, d in detectors.items()}
    scorers["per-clip FAD"] = lambda cs: np.array([c.clip_fad for c in cs])
    result = {}
    for label, scorer in scorers.items():
        good = scorer(clips["good"])
        aucs, rocs = {}, {}
        for name in CORRUPTIONS:
            bad = scorer(clips[f"{name}@1"])
            aucs[name] = _auc(good, bad)
            rocs[name] = _roc(good, bad)
        aucs["mean"] = float(np.mean(list(aucs.values())))
        result[label] = {"auc": aucs, "roc": rocs}
    return result


def _carry_over(per_set: Mapping[str, dict], model: GoodMixModel) -> dict[str, dict[str, float]]:
    """Per set: the shipped detector's anomaly of the good mixes (mean, false-alarm share) and its mean AUC."""
    table = {}
    for name, entry in per_set.items():
        good = model.detector.score(np.stack([c.features for c in entry["clips"]["good"]]))
        table[name] = {
            "songs": len(entry["songs"]),
            "good_anomaly": float(np.mean(good)),
            "false_alarms": float(np.mean(good > FALSE_ALARM)),
            **{f"auc_{k}": v for k, v in entry["detection"][model.detector.feature_set]["auc"].items()},
        }
    return table


def _print_carry_over(table: Mapping[str, dict[str, float]]) -> None:
    names = list(table)
    corruptions = [k.removeprefix("auc_") for k in table[names[0]] if k.startswith("auc_") and k != "auc_mean"]
    rows = [
        [
            name,
            t["songs"],
            t["good_anomaly"],
            f"{100 * t['false_alarms']:.0f}%",
            *(t[f"auc_{c}"] for c in corruptions),
            t["auc_mean"],
        ]
        for name, t in table.items()
    ]
    headers = ["songs", "n", "good mixes' anomaly", f"above {FALSE_ALARM:g}", *corruptions, "mean AUC"]
    print(
        format_table(headers, rows, title="(2) The shipped detector in and out of domain: its good mixes and its AUC")
    )
    gap = max(t["good_anomaly"] for n, t in table.items() if n != TEST_SPLIT) - table[TEST_SPLIT]["good_anomaly"]
    worst = min(t["auc_mean"] for n, t in table.items() if n != TEST_SPLIT)
    print(
        f"out-of-domain references score up to {gap:.2f} above in-domain ones (goal <= 0.5: "
        f"{'met' if gap <= 0.5 else 'NOT met'}); lowest out-of-domain mean AUC {worst:.3f} (goal >= {OOD_AUC_GOAL}: "
        f"{'met' if worst >= OOD_AUC_GOAL else 'NOT met'})\n"
    )


def _direction(songs: list[Multitrack], embedder: AudioEmbedder, model: GoodMixModel, args: argparse.Namespace) -> dict:
    """Scores of every term for settings sampled around each song's ground truth, and their Spearman correlations."""
    rng = np.random.default_rng([args.seed, 1])
    space = ParamSpace()
    spectral = SpectralDistance()
    loudness = LoudnessReward()
    fad = FADReward(embedder, model.fad)
    anomaly = AnomalyReward(embedder, model.detector)
    scales = np.linspace(0.0, args.max_noise, args.settings_per_song)
    length = round(model.clip_seconds * songs[0].sample_rate)
    rows = []
    for index, song in enumerate(tqdm(songs, desc="sampled settings", unit="song")):
        renderer = Renderer(song.sample_rate)
        part = song.segment((song.num_samples - length) // 2, length)
        truth = part.settings.normalized()
        context = ScoreContext(song.sample_rate, part.reference, part.stems)
        for scale in scales:
            vector = np.clip(truth + scale * rng.standard_normal(truth.size), -1.0, 1.0)
            settings = space.to_physical(vector)
            mix = renderer.render(part.stems, settings).mix
            rows.append(
                {
                    "song": index,
                    "distance": float(np.mean(np.abs(settings.normalized() - truth))),
                    "spectral": -spectral.distance(mix, part.reference),
                    "loudness": loudness.score(mix, context),
                    "fad": fad.score(mix, context),
                    "anomaly": anomaly.score(mix, context),
                }
            )
    distance = np.array([r["distance"] for r in rows])
    song_ids = np.array([r["song"] for r in rows])
    spearman = {}
    for term in TERMS:
        score = np.array([r[term] for r in rows])
        per_song = [_spearman(score[song_ids == s], distance[song_ids == s]) for s in range(len(songs))]
        spearman[term] = {"pooled": _spearman(score, distance), "per_song_mean": float(np.nanmean(per_song))}
    return {"rows": rows, "spearman": spearman}


def _set_fad(clips: Mapping[str, list[Clip]], reference: GaussianStats, seed: int) -> dict[str, dict[str, float]]:
    """FAD and FAD-∞ of each set's pooled frame embeddings against the good-mix statistics."""
    table = {}
    for name, members in tqdm(clips.items(), desc="set-level FAD", unit="set"):
        estimate = evaluate_fad(reference, np.concatenate([c.frames for c in members]), seed=seed)
        table[name] = {"fad": estimate.fad, "fad_inf": estimate.fad_inf}
    return table


def _auc(negatives: np.ndarray, positives: np.ndarray) -> float:
    """ROC-AUC that positives score higher (Mann-Whitney U, ties counted half)."""
    ranks = rankdata(np.concatenate([negatives, positives]))
    n_neg, n_pos = len(negatives), len(positives)
    return float((ranks[n_neg:].sum() - n_pos * (n_pos + 1) / 2) / (n_neg * n_pos))


def _roc(negatives: np.ndarray, positives: np.ndarray) -> tuple[list[float], list[float]]:
    thresholds = np.unique(np.concatenate([negatives, positives]))[::-1]
    fpr = [0.0, *(float(np.mean(negatives >= t)) for t in thresholds)]
    tpr = [0.0, *(float(np.mean(positives >= t)) for t in thresholds)]
    return fpr, tpr


def _spearman(a: np.ndarray, b: np.ndarray) -> float:
    if np.ptp(a) == 0 or np.ptp(b) == 0:
        return float("nan")
    return float(spearmanr(a, b).statistic)


def _print_detection(detection: Mapping[str, dict], shipped: str) -> None:
    labels = list(detection)
    headers = ["corruption", *(label + " *" if label == shipped else label for label in labels)]
    rows = [[name, *(detection[label]["auc"][name] for label in labels)] for name in [*CORRUPTIONS, "mean"]]
    title = "(1) ROC-AUC, good mixes vs each corruption at full strength (1.0 = perfectly separated, 0.5 = chance)"
    print(format_table(headers, rows, title=title))
    mean = detection[shipped]["auc"]["mean"]
    verdict = "met" if mean >= AUC_GOAL else "NOT met"
    print(f"* shipped detector ({shipped}): mean AUC {mean:.3f}, goal {AUC_GOAL} {verdict}\n")


def _print_direction(spearman: Mapping[str, dict[str, float]]) -> None:
    print("(3) Spearman correlation of each term's score with the settings' distance from the ground truth")
    print("    (negative is good: a higher score means settings closer to the right mix)")
    rows = [[term, values["pooled"], values["per_song_mean"]] for term, values in spearman.items()]
    print(format_table(["term", "pooled", "per-song mean"], rows) + "\n")


def _print_fad(table: Mapping[str, dict[str, float]]) -> None:
    rows = [[name, values["fad"], values["fad_inf"]] for name, values in table.items()]
    print(
        format_table(
            ["set", "FAD", "FAD-∞"],
            rows,
            title="(4) Set-level FAD of held-out clips against the good-mix statistics",
            digits=2,
        )
    )
    print("    the good set's FAD-∞ is the floor (held-out songs vs training songs); defects should sit above it")


def _plot(detection: Mapping[str, dict], shipped_set: str, direction: Mapping, path: Path) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    shipped = detection[shipped_set]
    fig, axes = plt.subplots(1, 1 + len(TERMS), figsize=(4.2 * (1 + len(TERMS)), 4.0))
    for name, (fpr, tpr) in shipped["roc"].items():
        axes[0].plot(fpr, tpr, label=f"{name} ({shipped['auc'][name]:.2f})")
    axes[0].plot([0, 1], [0, 1], color="grey", linestyle=":")
    axes[0].set(xlabel="false positive rate", ylabel="true positive rate", title=f"anomaly ROC ({shipped_set})")
    axes[0].legend(fontsize=7, loc="lower right")
    rows = direction["rows"]
    distance = [r["distance"] for r in rows]
    for ax, term in zip(axes[1:], TERMS, strict=True):
        ax.scatter(distance, [r[term] for r in rows], s=6, alpha=0.5)
        rho = direction["spearman"][term]
        ax.set(
            xlabel="settings distance from ground truth",
            ylabel=f"{term} score",
            title=f"{term}: ρ {rho['pooled']:.2f} (per song {rho['per_song_mean']:.2f})",
        )
    fig.tight_layout()
    return save_figure(fig, path)


if __name__ == "__main__":
    main()
