"""One benchmark: every method on the corpus test split, the out-of-domain sets or any folder of songs.

``python -m experiments.benchmark [--songs DIR ...] [--agents [LABEL=]RUN ...] [--seeds 0 1 2] [--methods NAME ...]
[--reuse]``

Methods, each mixing every song of every set in MixEnv (a 4 s clip, 10-step episodes, episode ``i`` seeded
``1000 + i``, the metrics of :mod:`rewards.metrics` with the audible parameter error where the songs have a ground
truth):

* the heuristics: neutral, loudness balance, reference matching (the bus's tone), stem matching (each stem's tone,
  fader and pan read from the reference, :class:`agents.heuristics.StemMatchPolicy`; these four once: deterministic)
  and CMA-ES with ``--cmaes-budget`` renders per song (once per seed), climbing the reference's spectral and
  loudness terms (:func:`experiments.methods.search_weights`);
* the supervised model (``--model``, default: the shipped default model), or several (``--models LABEL=PATH``; a
  PATH with ``{seed}`` names one model per seed, as training runs of several seeds are), each as it predicts,
  mastered to the reference's loudness, with its faders matched to the reference's balance as well,
  reference-free, and (those of ``--refine``, default all) refined by CMA-ES at CMA-ES's budget from its balance-
  and loudness-matched settings (per seed); those of ``--predicted-only`` only as they predict (ablations whose
  other forms no table reads); ``--runtime onnx`` runs models exported by ``mixenv export`` (``.onnx``
  files) on onnxruntime instead of torch (:func:`supervised.runtimes.load_predictor`);
* each trained agent of ``--agents``: run folders of ``python -m agents.<algo>`` or ``python -m agents.rllib``,
  labelled by the folder's name or as ``LABEL=RUN``; a RUN with ``{seed}`` names one run per seed (one method, each
  seed's rows from that seed's run, as for ``--models``), one without it is evaluated once. Its episodes start where
  its training's did (an agent refining a start policy's settings: from that policy's,
  :meth:`agents.trained.TrainedAgent.env`);
* where the songs have a ground truth: the ground truth, and predict-the-mean, the mean settings of the train split
  of the corpus the models train on (``--train-corpus``, default: the default corpus), the same for every song
  (:class:`experiments.methods.MeanPolicy`: the baseline of a model's parameter errors).

Sets: the corpus test split and each out-of-domain evaluation set (:data:`mixenv.artifacts.EVALUATION_SETS`), or
with ``--songs DIR`` the song folders under DIR (stems, an optional ``reference.wav``, an optional
``settings.json``); songs without a reference are mixed reference-free (to -14 LUFS), and the methods that need a
reference sit those out.

Every song of every (set, method, seed) is one job: ``--engine local --workers N`` runs them in N processes here,
``--engine ray`` as Ray tasks (on a local Ray, or the cluster at ``--address``); each worker makes the methods it is
asked for once and keeps them, and a row depends only on its song and seed, so every engine writes the same rows.

Writes ``results.json`` (one row per set, method, seed and song with every metric and the final settings, each set's
MixEnv arguments, the date, the commit and the versions), prints a table per set, the out-of-domain summary and how
the metrics agree (Spearman), and plots. Each (set, method, seed) is cached under ``rows/`` once its songs are done,
with what it was made from (:func:`made_by`), so an interrupted benchmark continues and a rerun with another model,
runtime or budget in the same ``--out`` runs the parts that changed again; ``--reuse`` re-scores every cached row
under the current metrics (its clip rendered under its final settings) without running any method again.
``--methods NAME ...`` runs only the methods named (each with its forms, ``NAME, ...``) and the neutral mix, the
baseline of every ratio: one new agent's rows, say, without running CMA-ES and the supervised models again.

Beside the per-song means, each table has set-level columns (:mod:`experiments.set_level`): ``kad``, the paired
Kernel Audio Distance of the final mixes to their songs' references (0 for the references themselves), and
``fad_inf``, FAD-∞ of their frames against the good-mix model's statistics; lower is better for both.
"""

from __future__ import annotations

import argparse
import datetime
import functools
import hashlib
import json
import logging
import platform
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

import mixenv
from agents.episodes import evaluate_song
from agents.evaluate import rescore
from agents.heuristics import MIN_REFINE_BUDGET
from agents.policies import MixPolicy, load_agent
from experiments import methods
from experiments.compare import (
    BASELINE,
    GOAL_HEURISTICS,
    TEST_SPLIT,
    evaluation_sets,
    format_agreement,
    format_comparison,
    format_generalisation,
    format_goals,
    goals,
    metric_agreement,
    metric_suite_of,
    plot_comparison,
    plot_generalisation,
    ratios,
    slug,
    song_means,
)
from experiments.set_level import set_level
from mixenv.data.atomic import write_json
from mixenv.data.folder import SETTINGS_FILE
from mixenv.engines import ENGINES, Engine, run_tasks
from mixenv.env import MixEnv
from supervised.default import default_model_path
from supervised.runtimes import RUNTIMES

EVALUATION_SEED = 1000
"""Episode ``i`` of a set is reset with ``EVALUATION_SEED + i``, for every method."""
SUPERVISED = "supervised model"
log = logging.getLogger(__name__)


def song_sets(folders: Sequence[Path]) -> dict[str, dict[str, Any]]:
    """Name -> the MixEnv arguments of each set: the corpus test split and the evaluation sets, or each folder of
    song folders (reference-free when its songs lack references)."""
    if not folders:
        return evaluation_sets()
    sets = {}
    for folder in folders:
        if not folder.is_dir():
            raise FileNotFoundError(f"--songs {folder}: no such folder (give a folder of song folders)")
        songs = [p for p in sorted(folder.iterdir()) if p.is_dir()]
        data: dict[str, Any] = {"data_source": "folder", "data_path": str(folder), "split": None}
        if not all((song / "reference.wav").is_file() for song in songs):
            data["reference_free"] = True
        sets[folder.name] = data
    return sets


@dataclass(frozen=True)
class Methods:
    """What decides the methods run on a set (small and picklable: every worker makes the same methods from it).

    ``models`` are (label, model file) pairs and ``agents`` (label, run folder) pairs; a path named with ``{seed}``
    is one per seed. ``refined`` are the labels of the models whose prediction is also refined, ``predicted_only``
    those run only as they predict (no other form); ``train_corpus`` is
    the corpus whose train split predict-the-mean averages (``None``: the default corpus); ``runtime`` runs the
    models (torch, or onnxruntime for exported ``.onnx`` files)."""

    models: tuple[tuple[str, str], ...]
    refined: tuple[str, ...]
    agents: tuple[tuple[str, str], ...]
    cmaes_budget: int
    first_seed: int
    train_corpus: str | None = None
    runtime: str = "torch"
    predicted_only: tuple[str, ...] = ()


@dataclass(frozen=True)
class SongJob:
    """One method's episode on one song of a set: the unit of work an engine runs."""

    data: str  # the set's MixEnv arguments, as JSON
    methods: Methods
    seed: int
    method: str
    song: str
    index: int  # the song's place in its set: its episode is reset with EVALUATION_SEED + index


@functools.cache
def set_env(data: str) -> MixEnv:
    """The env of a set from its arguments as JSON (the corpus sets' songs are their test split); made once per
    process."""
    return MixEnv(**({"split": "test"} | json.loads(data)))


@functools.cache
def lineup(data: str, seed: int, chosen_by: Methods) -> dict[str, tuple[MixPolicy, MixEnv]]:
    """Every method of one seed on one set (the deterministic ones on the first seed only); on a reference-free set,
    only those that mix without a reference. Made once per process."""
    env, kwargs = set_env(data), json.loads(data)
    chosen = methods.heuristics(env, chosen_by.cmaes_budget, seed)
    seeded = {"cma-es"}
    for label, where in chosen_by.models:
        budget = chosen_by.cmaes_budget if label in chosen_by.refined else None
        path = Path(where.format(seed=seed))
        model = methods.supervised(env, path, label, refine_budget=budget, seed=seed, runtime=chosen_by.runtime)
        if label in chosen_by.predicted_only:
            model = {label: model[label]} if label in model else {}
        chosen |= model
        seeded |= set(model) if "{seed}" in where else {f"{label}, refined"}
    if env.uses_reference:  # agents observe the reference
        for label, where in chosen_by.agents:
            agent = methods.agent(load_agent(where.format(seed=seed)), kwargs, label)
            chosen |= agent
            seeded |= set(agent) if "{seed}" in where else set()
    if all((Path(song.path) / SETTINGS_FILE).is_file() for song in env.songs):
        chosen["ground truth"] = (methods.GroundTruthPolicy(), env)
        chosen[methods.MeanPolicy.name] = (methods.MeanPolicy(chosen_by.train_corpus), env)
    if seed != chosen_by.first_seed:
        chosen = {name: pair for name, pair in chosen.items() if name in seeded}
    if not env.uses_reference:
        blind = {"neutral", "loudness balance", "cma-es", "ground truth", methods.MeanPolicy.name}
        blind |= {f"{label}, reference-free" for label, _ in chosen_by.models}
        chosen = {name: pair for name, pair in chosen.items() if name in blind}
    return chosen


def made_by(data: str, method: str, seed: int, chosen_by: Methods) -> dict[str, Any]:
    """What one (set, method, seed)'s rows are made from: the set's env arguments, the seed, and the method's
    source (its model file or agent run folder by content, the runtime that runs a model, CMA-ES's budget for a
    search, the corpus predict-the-mean averages). Kept with the rows, so that a rerun in the same ``--out`` uses
    them again only while this is unchanged: another model under the same label, another ``--runtime`` or another
    budget runs the part again instead of mixing rows of two configurations into one table."""
    source: dict[str, Any] = {}
    labelled = [(label, where, "model") for label, where in chosen_by.models]
    labelled += [(label, where, "agent") for label, where in chosen_by.agents]
    for label, where, kind in sorted(labelled, key=lambda entry: -len(entry[0])):  # the longest label that names it
        if method == label or method.startswith(f"{label}, "):
            source[kind] = _content_digest(Path(where.format(seed=seed)))
            if kind == "model":
                source["runtime"] = chosen_by.runtime
            break
    if method == "cma-es" or method.endswith(", refined"):
        source["cmaes_budget"] = chosen_by.cmaes_budget
    if method == methods.MeanPolicy.name:
        source["train_corpus"] = chosen_by.train_corpus
    return {"set": json.loads(data), "method": method, "seed": seed} | source


def _content_digest(path: Path) -> str:
    """A digest of a file's bytes, or of every file under a folder (their relative paths and bytes)."""
    digest = hashlib.sha256()
    for file in sorted(path.rglob("*")) if path.is_dir() else [path]:
        if file.is_file():
            digest.update(f"{file.relative_to(path) if path.is_dir() else file.name}:".encode())
            digest.update(file.read_bytes())
    return digest.hexdigest()[:16]


def cached_rows(path: Path, made: dict[str, Any], keep_other: bool) -> list[dict[str, Any]] | None:
    """The rows kept at ``path`` when they were made from ``made`` (:func:`made_by`); ``None`` when there are none,
    or when they were made otherwise and not ``keep_other`` (said on the log, so the rerun is no surprise)."""
    if not path.is_file():
        return None
    kept = json.loads(path.read_text(encoding="utf-8"))
    if isinstance(kept, dict) and kept.get("made_by") == made:
        return kept["rows"]
    rows = kept["rows"] if isinstance(kept, dict) else kept  # a list: kept before rows recorded their source
    if keep_other:
        log.warning("%s: kept rows made by another configuration than this run's; re-scoring them as they are", path)
        return rows
    log.warning("%s: made by another configuration (model, runtime, budget or set); running it again", path)
    return None


def run_song(job: SongJob) -> dict[str, Any]:
    """The row of one job (:func:`agents.episodes.evaluate_song` with every metric of the method's env)."""
    policy, env = lineup(job.data, job.seed, job.methods)[job.method]
    return evaluate_song(policy, env, job.song, EVALUATION_SEED + job.index, metric_suite_of(env))


def selected(method: str, names: Sequence[str] | None) -> bool:
    """Whether ``--methods names`` runs ``method``: every method without the option; with it, the neutral mix (the
    baseline of every ratio), each method named and its forms (the names that extend it after a comma: an agent's
    ``LABEL`` also runs ``LABEL, best of its renders`` and ``LABEL, loudness matched``)."""
    if names is None or method == BASELINE:
        return True
    return any(method == name or method.startswith(f"{name}, ") for name in names)


LABELLED = {
    "--models": ("model", "'supervised cnn=runs/cnn/model.pt'"),
    "--agents": ("run", "'ppo=runs/ppo_seed{seed}'"),
}
"""Each option of ``LABEL=PATH`` arguments -> what its PATH names, and an example."""


def _labelled(given: str, option: str, seeds: Sequence[int]) -> tuple[str, str]:
    """``LABEL=PATH`` of ``--models`` or ``--agents`` -> (label, path); an agent's run folder without ``{seed}`` may
    come unlabelled (its folder's name labels it).

    Raises:
        ValueError: Without a label where one is needed, or for a path that does not exist (with ``{seed}``: for
            one of ``seeds``).
    """
    label, sep, path = given.partition("=")
    if not sep and option == "--agents" and "{seed}" not in given:
        label, path = Path(given).name, given
    what, example = LABELLED[option]
    if not label.strip() or not path:
        raise ValueError(f"{option} {given!r}: give LABEL=PATH, e.g. {example}")
    for where in [path.format(seed=seed) for seed in seeds] if "{seed}" in path else [path]:
        if not Path(where).exists():
            raise ValueError(f"{option} {given!r}: no such {what} {where}")
    return label.strip(), path


def provenance(args: argparse.Namespace) -> dict[str, Any]:
    """When the run started, from which commit of this code (``-dirty`` with uncommitted changes; ``None`` outside a
    git checkout, whatever the working directory) and with which versions."""
    source = Path(__file__).resolve().parent
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "HEAD"], capture_output=True, text=True, check=True, cwd=source
        ).stdout.strip()
        changed = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"], capture_output=True, text=True, cwd=source
        )
        commit += "-dirty" if changed.stdout.strip() else ""
    except (OSError, subprocess.CalledProcessError):
        commit = None
    return {
        "date": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "commit": commit,
        "versions": {"mixenv": mixenv.__version__, "torch": torch.__version__, "python": platform.python_version()},
        "args": {k: [str(p) for p in v] if isinstance(v, list) else str(v) for k, v in vars(args).items()},
    }


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``python -m experiments.benchmark``."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "--songs",
        type=Path,
        nargs="*",
        default=[],
        help="folders of song folders (default: the corpus test split and the evaluation sets)",
    )
    parser.add_argument(
        "--agents",
        nargs="*",
        default=[],
        metavar="[LABEL=]RUN",
        help="trained agents' run folders (agents.<algo>, agents.rllib); {seed} in a RUN: one run per seed",
    )
    parser.add_argument("--model", type=Path, default=None, help="supervised model (default: the shipped default)")
    parser.add_argument(
        "--models",
        nargs="+",
        default=[],
        metavar="LABEL=PATH",
        help="several supervised models instead of --model, each labelled; {seed} in a PATH: one model per seed",
    )
    parser.add_argument(
        "--refine",
        nargs="*",
        default=None,
        metavar="LABEL",
        help="the models also refined by CMA-ES (default: all but those of --predicted-only)",
    )
    parser.add_argument(
        "--predicted-only",
        nargs="+",
        default=[],
        metavar="LABEL",
        help="models run only as they predict, in no other form (say, ablations read for their prediction alone)",
    )
    parser.add_argument(
        "--learned",
        nargs="*",
        default=[f"{SUPERVISED}, {methods.MATCHED}", f"{SUPERVISED}, refined"],
        help="methods whose generalisation goals are printed (beat every heuristic out of domain, and so on)",
    )
    parser.add_argument(
        "--methods",
        nargs="+",
        default=None,
        metavar="NAME",
        help="run only these methods, each with its forms ('NAME, ...'), and the neutral mix every ratio is taken to: "
        "say, one new agent's label, without running CMA-ES and the models again (default: every method)",
    )
    parser.add_argument(
        "--train-corpus",
        type=Path,
        default=None,
        help="corpus whose train split's mean settings predict-the-mean plays (default: the default corpus)",
    )
    parser.add_argument(
        "--runtime",
        choices=RUNTIMES,
        default="torch",
        help="what runs the supervised models: torch, or onnxruntime for models exported by `mixenv export` (give "
        "the .onnx files as --model or --models)",
    )
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2], help="seeds of the seeded methods")
    parser.add_argument("--cmaes-budget", type=int, default=100, help="renders per song of CMA-ES and refining")
    parser.add_argument("--episodes", type=int, default=None, help="songs per set (default: all)")
    parser.add_argument("--clip-seconds", type=float, default=4.0, help="clip mixed per song")
    parser.add_argument("--backbone-path", default=None, help="backbone of FAD and anomaly (default: the default)")
    parser.add_argument("--good-mix-path", default=None, help="good-mix model of that backbone (default: built)")
    parser.add_argument("--reuse", action="store_true", help="re-score the cached rows; run no method")
    parser.add_argument(
        "--engine",
        choices=ENGINES,
        default="local",
        help="where the episodes run: local processes, or Ray tasks (pip install -e '.[scale]'); same rows on either",
    )
    parser.add_argument(
        "--workers", type=int, default=1, help="local processes, or a local Ray's CPUs (default: 1, in this process)"
    )
    parser.add_argument("--address", default=None, help="Ray cluster to join: auto or HOST:PORT (with --engine ray)")
    parser.add_argument("--out", type=Path, default=Path("outputs/benchmark"), help="results, tables and plots")
    args = parser.parse_args(argv)
    if args.model and args.models:
        parser.error("give --model or --models, not both")
    if args.cmaes_budget < MIN_REFINE_BUDGET:
        parser.error(f"--cmaes-budget {args.cmaes_budget}: a refinement needs at least {MIN_REFINE_BUDGET} renders")
    if args.runtime == "onnx" and not (args.model or args.models):
        parser.error("--runtime onnx runs exported models: give the .onnx files as --model or --models")
    try:
        models = tuple(_labelled(given, "--models", args.seeds) for given in args.models) or (
            (SUPERVISED, str(args.model or default_model_path())),
        )
        agents = tuple(_labelled(given, "--agents", args.seeds) for given in args.agents)
    except ValueError as err:
        parser.error(str(err))
    logging.basicConfig(level=logging.WARNING, format="mixenv: %(message)s")
    made = provenance(args)
    try:  # the engine first: the default sets may have to be built, a minute or two each
        engine = Engine(args.engine, workers=args.workers, address=args.address)
        sets = song_sets(args.songs)
    except (FileNotFoundError, ValueError) as err:
        print(f"experiments.benchmark: error: {err}", file=sys.stderr)
        return 2
    common = {
        "clip_seconds": args.clip_seconds,
        "backbone_path": args.backbone_path,
        "good_mix_path": args.good_mix_path,
    }
    labels = [label for label, _ in models]
    for option, given in (("--refine", args.refine or []), ("--predicted-only", args.predicted_only)):
        unknown = sorted(set(given) - set(labels))
        if unknown:
            parser.error(f"{option} {unknown}: no such model label (the models are {labels})")
    both = sorted(set(args.predicted_only) & set(args.refine or []))
    if both:
        parser.error(f"--refine and --predicted-only both name {both}: a model run only as it predicts is not refined")
    refined = tuple(
        [label for label in labels if label not in args.predicted_only] if args.refine is None else args.refine
    )
    train_corpus = None if args.train_corpus is None else str(args.train_corpus)
    predicted_only = tuple(args.predicted_only)
    chosen_by = Methods(
        models, refined, agents, args.cmaes_budget, args.seeds[0], train_corpus, args.runtime, predicted_only
    )
    found: dict[tuple[str, str, int], list[dict[str, Any]]] = {}  # (set, method, seed) -> its song rows
    todo: dict[tuple[str, str, int], Path] = {}  # those to run, and where their rows go
    made_from: dict[tuple[str, str, int], dict[str, Any]] = {}  # (set, method, seed) -> what its rows come from
    jobs: list[tuple[tuple[str, str, int], SongJob]] = []
    given = {k: v for k, v in common.items() if v is not None}
    keys = {name: json.dumps(data | given, sort_keys=True) for name, data in sets.items()}  # set -> env arguments
    offered = {method for key in keys.values() for seed in args.seeds for method in lineup(key, seed, chosen_by)}
    others = offered - {BASELINE}  # --methods is checked before any row is read, re-scored or run
    unknown = [name for name in args.methods or [] if name != BASELINE and not any(selected(m, [name]) for m in others)]
    if unknown:
        parser.error(f"--methods {unknown}: no such method (the methods are {sorted(offered)})")
    for set_name, key in keys.items():
        env = set_env(key)
        names = [song.name for song in env.songs][: args.episodes]
        for seed in args.seeds:
            for method in lineup(key, seed, chosen_by):
                if not selected(method, args.methods):
                    continue
                path = args.out / "rows" / slug(set_name) / f"{slug(method)}_seed{seed}.json"
                made_from[(set_name, method, seed)] = source = made_by(key, method, seed, chosen_by)
                song_rows = cached_rows(path, source, keep_other=args.reuse)
                if song_rows is not None:
                    if args.reuse:
                        song_rows = rescore(song_rows, env, metric_suite_of(env))
                        write_json(path, {"made_by": source, "rows": song_rows})
                    found[(set_name, method, seed)] = song_rows
                elif not args.reuse:
                    found[(set_name, method, seed)] = [{} for _ in names]
                    todo[(set_name, method, seed)] = path
                    jobs += [
                        ((set_name, method, seed), SongJob(key, chosen_by, seed, method, song, index))
                        for index, song in enumerate(names)
                    ]
    left = {part: len(found[part]) for part in todo}
    for done, row in run_tasks(run_song, [job for _, job in jobs], engine, desc="benchmark", unit="episode"):
        part, job = jobs[done]
        found[part][job.index] = row
        left[part] -= 1
        if not left[part]:  # the (set, method, seed) is complete: cache it
            write_json(todo[part], {"made_by": made_from[part], "rows": found[part]})
    numbers = set_level(found, {name: set_env(key) for name, key in keys.items()}, keys, args.out)
    rows: list[dict[str, Any]] = []
    results: dict[str, dict[str, list[dict[str, float]]]] = {}
    for (set_name, method, seed), song_rows in found.items():
        whole = {k: v for k, v in numbers.get((set_name, method, seed), {}).items() if v is not None}
        results.setdefault(set_name, {}).setdefault(method, []).append(song_means(song_rows) | whole)
        rows += [{"set": set_name, "method": method, "seed": seed, **row} for row in song_rows]
    for set_name, table in results.items():
        title = f"{set_name}: mean (± std over seeds) of the per-song means; set-level kad (final mixes vs the "
        title += "references) and fad_inf (vs the good mixes)"
        print("\n" + format_comparison(table, title))
    referenced = {name: table for name, table in results.items() if "mrstft" in table["neutral"][0]}
    if len(referenced) > 1:
        print(
            "\n" + format_generalisation(referenced, "MRSTFT as a ratio to the neutral mix's, and LUFS error, per set")
        )
    # The goals compare a method with the heuristics, which --methods may have left out.
    judged = TEST_SPLIT in referenced and all(set(GOAL_HEURISTICS) & set(t) for t in referenced.values())
    achieved = [goals(referenced, m) for m in args.learned if judged and m in referenced[TEST_SPLIT]]
    if achieved and len(referenced) > 1:
        print("\n" + "\n".join(format_goals(g) for g in achieved))
    agreement = metric_agreement(rows)
    print("\n" + format_agreement(agreement, "Spearman rank correlation of the metrics over every method x song row"))
    summary = {"means": results, "ratios": ratios(referenced), "goals": achieved, "agreement": agreement}
    sets_made = {name: json.loads(key) for name, key in keys.items()}
    write_json(args.out / "results.json", {**made, "sets": sets_made, "rows": rows, **summary})
    first = next(iter(results))
    plots = [plot_comparison(results[first], args.out / "results.png", f"{first}: each metric per method")]
    if len(referenced) > 1:
        plots.append(plot_generalisation(referenced, args.out / "generalisation.png", "MRSTFT / neutral's, per set"))
    print(f"\nwrote {args.out / 'results.json'} and " + ", ".join(map(str, plots)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
