"""The first-use builds, in one place: the synthetic corpus, the classics training set and the good-mix model;
and the default backbone, which ships with mixenv.

``mixenv prepare`` builds the three up front (about 3 minutes on 2 CPU cores). Whatever asks for one of them
later (``gymnasium.make("MixEnv-v0")``, the evaluations, the benchmarks) gets it through this module: found in the
data cache (``$MIXENV_DATA``, default ``~/.cache/mixenv``) or, with ``build=True``, built there on first use with
one log line saying what is built, where, and about how long it takes. With ``build=False`` a missing artefact is
a :class:`MissingArtifactError` that names the command that builds it. Every build is deterministic (same seeds,
same bytes) and written atomically, so an interrupted build leaves nothing half-written.

| artefact | made from | where in ``DATA`` |
|---|---|---|
| synthetic corpus | :class:`~mixenv.data.corpus.CorpusConfig`'s defaults | ``synthetic-v1-n240-10s-22050hz-seed0/`` |
| backbone | its train split, :data:`~mixenv.pretrain.DEFAULT_PRETRAIN` | shipped: :mod:`mixenv.pretrain.default` |
| classics training set | :data:`TRAINING_SETS` (:mod:`mixenv.data.synth.classics`) | ``classics-v1-n96-...`` |
| good-mix model | :func:`good_mix_pool`'s references under that backbone | ``goodmix/``, by the backbone's bytes |
"""

from __future__ import annotations

import hashlib
import logging
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from tqdm.auto import tqdm

from mixenv.backbone import BackboneCheckpoint, load_backbone
from mixenv.data import SongRef, list_songs
from mixenv.data.atomic import exclusive
from mixenv.data.corpus import MANIFEST, CorpusConfig, data_root, default_corpus_path
from mixenv.pretrain.default import shipped_path
from rewards.goodmix import GOODMIX_VERSION, GoodMixModel, build_good_mix_model, good_mix_terms
from rewards.metrics import MetricSuite
from rewards.sensitivity import Sensitivity, corpus_sensitivity
from rewards.spectral import SpectralReward

PREPARE = "mixenv prepare"
"""The command that builds every default artefact."""
DEFAULT_CORPUS = CorpusConfig()
"""The default corpus; the shipped default backbone was pretrained on its train split
(:mod:`mixenv.pretrain.default`)."""
EVALUATION_SETS: dict[str, CorpusConfig] = {
    "chorales": CorpusConfig(songs=24, seconds=10.0, seed=1, sample_rate=44_100, fractions=(0, 0, 1), style="chorales"),
    "folk": CorpusConfig(songs=24, seconds=10.0, seed=2, sample_rate=48_000, fractions=(0, 0, 1), style="folk"),
}
"""The out-of-domain evaluation sets (:mod:`mixenv.data.synth.styles`): every song in the test split, never
trained or selected on; every benchmark reports them beside the corpus's test split."""
TRAINING_SETS: dict[str, CorpusConfig] = {
    "classics": CorpusConfig(songs=96, seconds=10.0, seed=0, fractions=(1, 0, 0), style="classics"),
}
"""More music to learn from than the corpus's arranger writes, every song in the train split: the default good-mix
model's pool holds its references beside the corpus's (its good mixes then include real part-writing, so good mixes
of unseen music are less often called anomalous), and ``supervised.train --more-data classics`` adds its songs.
Built on first use (about 2 minutes on 2 cores: music21 parses a score per song)."""
SECONDS_PER_SONG = {"synthetic": 0.25, "classics": 1.1}
"""About how long a song of each style takes to build on 2 cores, for the build's log line (others: as classics)."""

log = logging.getLogger("mixenv")


class MissingArtifactError(FileNotFoundError):
    """A default artefact is not built and may not be built here; the message names the command that builds it."""


@dataclass(frozen=True)
class Prepared:
    """What :func:`prepare` did for one artefact: its name, where it is, its status (``built now``, ``already there``
    or ``shipped with mixenv``) and the time it took."""

    name: str
    path: Path
    status: str
    seconds: float


def corpus(config: CorpusConfig | None = None, *, build: bool = True) -> Path:
    """The folder of the corpus ``config`` describes (the default corpus for ``None``), built first if missing.

    Raises:
        MissingArtifactError: If it is missing and ``build`` is False.
    """
    config = config or DEFAULT_CORPUS
    folder = default_corpus_path(config)
    if (folder / MANIFEST).is_file():
        return folder

    def make() -> Path:
        from mixenv.data.synth.corpus import build_corpus  # the soundfont synthesiser, only when building

        try:
            return build_corpus(folder, config)
        except OSError:
            if (folder / MANIFEST).is_file():  # a process on another machine finished it first (a shared folder)
                return folder
            raise

    what = f"the {config.style} corpus ({config.songs} songs of {config.seconds:g} s)"
    minutes = config.songs * SECONDS_PER_SONG.get(config.style, SECONDS_PER_SONG["classics"]) / 60
    _build(what, folder, _minutes(minutes), make, build, _corpus_command(config, folder), folder / MANIFEST)
    return folder


def evaluation_set(name: str, *, build: bool = True) -> Path:
    """The folder of the evaluation set ``name`` (:data:`EVALUATION_SETS`), built first if missing (about 15 s).

    Raises:
        KeyError: For an unknown name.
        MissingArtifactError: If it is missing and ``build`` is False.
    """
    return _named_set(EVALUATION_SETS, "evaluation set", name, build)


def training_set(name: str, *, build: bool = True) -> Path:
    """The folder of the training set ``name`` (:data:`TRAINING_SETS`), built first if missing.

    Raises:
        KeyError: For an unknown name.
        MissingArtifactError: If it is missing and ``build`` is False.
    """
    return _named_set(TRAINING_SETS, "training set", name, build)


def _named_set(sets: dict[str, CorpusConfig], kind: str, name: str, build: bool) -> Path:
    """The folder of ``sets[name]``, built first if missing; a ``KeyError`` naming the sets for an unknown name."""
    if name not in sets:
        raise KeyError(f"unknown {kind} {name!r}; the sets are {', '.join(sets)}")
    return corpus(sets[name], build=build)


def good_mix_pool(*, build: bool = True) -> list[SongRef]:
    """The songs whose references the default good-mix model holds as good mixes: the default corpus's train split
    and every :data:`TRAINING_SETS` set (built first if missing)."""
    songs = list_songs("synthetic", corpus(build=build), "train")
    for name in TRAINING_SETS:
        songs += list_songs("synthetic", training_set(name, build=build), "train")
    return songs


def backbone(path: str | os.PathLike[str] | None = None) -> BackboneCheckpoint:
    """A user's backbone checkpoint, or the default one, shipped with mixenv (:mod:`mixenv.pretrain.default`).

    Raises:
        FileNotFoundError: If ``path`` is given and does not exist, or the package was installed without the default.
        ValueError: If the file is not a backbone checkpoint this mixenv reads.
    """
    if path is None:
        return load_backbone(shipped_path())
    if not Path(path).is_file():
        raise FileNotFoundError(
            f"backbone checkpoint {path} does not exist; write one with `python -m mixenv.pretrain --out {path}`, "
            "or pass no path to use the default backbone"
        )
    return load_backbone(path)


def good_mix_model_path(checkpoint: str | os.PathLike[str], musdb_path: str | os.PathLike[str] | None = None) -> Path:
    """Where the good-mix model of a backbone file lives: ``DATA/goodmix/``, named after the file and a digest of its
    content (the shipped backbone's folder may not be writable, and a user's is not ours to write in).

    The digest also covers the MUSDB18-HQ folder, if one is used, so models with and without it do not collide.
    """
    checkpoint = Path(checkpoint)
    digest = hashlib.sha256(checkpoint.read_bytes())
    if musdb_path is not None:
        digest.update(str(Path(musdb_path).resolve()).encode())
    name = f"{checkpoint.stem}.goodmix-v{GOODMIX_VERSION}-{digest.hexdigest()[:12]}.npz"
    return data_root() / "goodmix" / name


def reward_models(
    backbone_file: str | os.PathLike[str] | None = None,
    good_mix_file: str | os.PathLike[str] | None = None,
    *,
    musdb_path: str | os.PathLike[str] | None = None,
    build: bool = True,
) -> tuple[BackboneCheckpoint, GoodMixModel]:
    """The backbone and good-mix model the FAD and anomaly terms need: given files, or the defaults.

    Args:
        backbone_file: A backbone checkpoint; ``None`` for the default backbone.
        good_mix_file: A good-mix model saved with :meth:`GoodMixModel.save` for that backbone; ``None`` for the one
            fitted on :func:`good_mix_pool`'s references (and MUSDB18-HQ's train mixtures with ``musdb_path``).
        musdb_path: A MUSDB18-HQ root whose train mixtures join the good mixes of a model built here.
        build: Build what is missing (else raise :class:`MissingArtifactError`).

    Raises:
        FileNotFoundError: If a given file does not exist.
    """
    checkpoint = backbone(backbone_file)
    if good_mix_file is not None:
        if not Path(good_mix_file).is_file():
            raise FileNotFoundError(
                f"good-mix model {good_mix_file} does not exist; fit one with rewards.goodmix.build_good_mix_model "
                "and GoodMixModel.save, or pass no path to use the default one"
            )
        return checkpoint, GoodMixModel.load(good_mix_file)
    target = good_mix_model_path(backbone_file or shipped_path(), musdb_path)
    if target.is_file():
        return checkpoint, GoodMixModel.load(target)

    songs = good_mix_pool(build=build)  # its sets first, each under its own lock and log line

    def make() -> Path:
        pool = songs + (list_songs("musdb18hq", musdb_path, "train") if musdb_path is not None else [])
        return build_good_mix_model(checkpoint, pool).save(target)

    _build("the good-mix model (FAD statistics and anomaly detector)", target, "under 2 minutes", make, build)
    return checkpoint, GoodMixModel.load(target)


SENSITIVITY_VERSION = 1
"""Bumped when :func:`rewards.sensitivity.corpus_sensitivity` changes what it measures."""


def sensitivity(corpus_folder: str | os.PathLike[str], *, build: bool = True) -> Sensitivity:
    """How much each control moves the mix on a corpus with ground truth (the audible parameter error's weights),
    measured once and kept beside the corpus folder (``<corpus>.sensitivity-v1.json``).

    Raises:
        MissingArtifactError: If it is not measured yet and ``build`` is false.
    """
    folder = Path(corpus_folder)
    target = folder.with_name(f"{folder.name}.sensitivity-v{SENSITIVITY_VERSION}.json")
    if not target.is_file():
        command = f"python -c \"from mixenv import artifacts; artifacts.sensitivity('{folder}')\""
        make = lambda: corpus_sensitivity(folder, progress=False).save(target)  # noqa: E731
        _build(f"the controls' sensitivity on {folder.name}", target, "about a minute", make, build, command)
    return Sensitivity.load(target)


def metric_suite(
    backbone_file: str | os.PathLike[str] | None = None,
    good_mix_file: str | os.PathLike[str] | None = None,
    *,
    corpus_folder: str | os.PathLike[str] | None = None,
    build: bool = True,
) -> MetricSuite:
    """The evaluation metrics with the FAD and anomaly terms of :func:`reward_models`, and with a corpus's
    :func:`sensitivity` as the weights of the audible parameter error when ``corpus_folder`` is given."""
    fad, anomaly = good_mix_terms(*reward_models(backbone_file, good_mix_file, build=build))
    weights = None if corpus_folder is None else sensitivity(corpus_folder, build=build).sensitivity
    return MetricSuite(SpectralReward(), fad, anomaly, weights)


def prepare(*, evaluation_sets: bool = False, progress: bool = True) -> list[Prepared]:
    """Build every default artefact that is missing (``mixenv prepare``) and say what each one is.

    Args:
        evaluation_sets: Also build the out-of-domain evaluation sets (:data:`EVALUATION_SETS`).
        progress: Show progress bars.

    Returns:
        One :class:`Prepared` per artefact: the shipped backbone, then in build order the corpus, the training sets
        and the good-mix model (then the evaluation sets).
    """
    done = [Prepared("backbone", shipped_path(), "shipped with mixenv", 0.0)]
    steps: list[tuple[str, Callable[[], Path], Callable[[], object]]] = [
        ("synthetic corpus", lambda: default_corpus_path(DEFAULT_CORPUS), corpus),
        *(
            (f"{name} training set", lambda c=config: default_corpus_path(c), lambda n=name: training_set(n))
            for name, config in TRAINING_SETS.items()
        ),
        ("good-mix model", lambda: good_mix_model_path(shipped_path()), reward_models),
    ]
    if evaluation_sets:
        steps += [
            (f"evaluation set {name}", lambda c=config: default_corpus_path(c), lambda n=name: evaluation_set(n))
            for name, config in EVALUATION_SETS.items()
        ]
    with tqdm(steps, desc="mixenv prepare", unit="artefact", disable=not progress) as bar:
        for name, where, make in bar:
            bar.set_postfix_str(name)
            start = time.perf_counter()
            existed = where().exists()
            make()
            status = "already there" if existed else "built now"
            done.append(Prepared(name, where(), status, time.perf_counter() - start))
    return done


def _corpus_command(config: CorpusConfig, folder: Path) -> str:
    """The command that builds the corpus of ``config`` into ``folder``."""
    if config == DEFAULT_CORPUS:
        return PREPARE
    if config in TRAINING_SETS.values():
        return PREPARE
    if config in EVALUATION_SETS.values():
        return f"{PREPARE} --evaluation-sets"
    options = (
        f"--songs {config.songs} --seconds {config.seconds:g} --seed {config.seed} --sample-rate {config.sample_rate}"
    )
    return f"mixenv corpus --style {config.style} {options} --out {folder}"


def _build(
    what: str,
    path: Path,
    duration: str,
    make: Callable[[], object],
    build: bool,
    command: str = PREPARE,
    done: Path | None = None,
) -> None:
    """``make()`` with a log line before and after, or :class:`MissingArtifactError` if building is not allowed.

    One process at a time builds ``path`` (:func:`~mixenv.data.atomic.exclusive`); one that waited for another's
    build, saying so, finds it there (``done``, by default ``path`` itself: every artefact appears whole or not at
    all) and does not build it again.
    """
    if not build:
        raise MissingArtifactError(
            f"{what} is not built yet (expected at {path}); build it with `{command}` ({duration} on 2 CPU cores)"
        )
    waiting = lambda: log.warning("waiting for %s: another process is building it into %s", what, path)  # noqa: E731
    with exclusive(path, on_wait=waiting):
        if (done or path).exists():
            return
        log.warning(
            "building %s into %s (first use; %s on 2 CPU cores; `%s` builds it up front)", what, path, duration, command
        )
        start = time.perf_counter()
        make()
        log.warning("built %s in %.0f s", what, time.perf_counter() - start)


def _minutes(minutes: float) -> str:
    return f"about {minutes:.0f} minute{'s' if round(minutes) != 1 else ''}" if minutes >= 1 else "under a minute"
