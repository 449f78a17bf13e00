"""The embedded synthetic corpus: arranged, soundfont-rendered, coloured multitracks with known mix settings.

Layout (also what ``mixenv corpus`` writes)::

    DIR/manifest.json                    format, version, config, split and a summary of every song
    DIR/<song>/{vocals,drums,bass,other}.wav   raw coloured stems, 16-bit (vocals and bass mono)
    DIR/<song>/reference.wav             the reference mix: the stems rendered under the ground truth
    DIR/<song>/settings.json             the ground truth, as a preset

Song ``i`` draws everything from ``numpy.random.default_rng([seed, i])``, so a corpus is byte-identical for a
seed whatever the number of workers, and a song does not change when more songs are asked for. The reference
is rendered from the stems as read back from their 16-bit files, so ``render(stems, settings)`` reproduces
``reference.wav`` to its 16-bit quantisation. The whole folder is written under a temporary name and renamed
when complete: an interrupted build leaves nothing behind.
"""

from __future__ import annotations

import concurrent.futures
import functools
import json
import logging
import multiprocessing
import os
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
from tqdm.auto import tqdm

from mixenv.data.atomic import atomic_dir, write_json
from mixenv.data.audio import read_audio, write_audio
from mixenv.data.folder import load_folder
from mixenv.data.multitrack import Multitrack
from mixenv.data.songref import DatasetError, SongRef
from mixenv.data.splits import DEFAULT_FRACTIONS, exact_split
from mixenv.data.stems import LoadPolicy
from mixenv.data.synth.arrange import arrange_song
from mixenv.data.synth.colour import apply_colouration, sample_colouration
from mixenv.data.synth.prior import sample_settings
from mixenv.data.synth.soundfont import SoundfontRenderer, soundfont_path
from mixenv.loudness import integrated_lufs, peak_dbfs
from mixenv.params import ROLES, ParamSpace
from mixenv.presets import save_preset
from mixenv.render import Renderer

CORPUS_FORMAT = "mixenv-corpus"
CORPUS_VERSION = 1
"""Bump when generation changes, so cached corpora of the old recipe are not mistaken for new ones."""
SOURCE = "synthetic"
MONO_ROLES = frozenset({"vocals", "bass"})
MANIFEST = "manifest.json"

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class CorpusConfig:
    """What to generate.

    Attributes:
        songs: Number of songs.
        seconds: Length of each song.
        seed: Master seed; song ``i`` uses ``[seed, i]``.
        sample_rate: Sample rate of every file, in Hz.
        fractions: Train/val/test shares, split exactly by a permutation drawn from ``seed``.
    """

    songs: int = 240
    seconds: float = 10.0
    seed: int = 0
    sample_rate: int = 22_050
    fractions: tuple[float, float, float] = DEFAULT_FRACTIONS

    def __post_init__(self) -> None:
        if self.songs < 1:
            raise ValueError(f"a corpus needs at least 1 song, got songs={self.songs}")
        if not 1.0 <= self.seconds <= 600.0:
            raise ValueError(f"song length must be within [1, 600] seconds, got seconds={self.seconds}")
        if self.sample_rate < 16_000:
            raise ValueError(f"sample_rate must be at least 16000 Hz, got {self.sample_rate}")

    def folder_name(self) -> str:
        """Cache folder name that identifies this recipe and configuration."""
        return f"synthetic-v{CORPUS_VERSION}-n{self.songs}-{self.seconds:g}s-{self.sample_rate}hz-seed{self.seed}"


def data_root() -> Path:
    """Where mixenv caches data: ``$MIXENV_DATA``, else ``$XDG_CACHE_HOME/mixenv``, else ``~/.cache/mixenv``."""
    if os.environ.get("MIXENV_DATA"):
        return Path(os.environ["MIXENV_DATA"]).expanduser()
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "mixenv"


def ensure_corpus(config: CorpusConfig | None = None, path: str | os.PathLike[str] | None = None) -> Path:
    """The corpus folder for ``config``, built first if it is not there yet (the first-use path)."""
    config = config or CorpusConfig()
    folder = Path(path) if path is not None else data_root() / config.folder_name()
    if (folder / MANIFEST).is_file():
        return folder
    log.warning("building the synthetic corpus (first use) into %s", folder)
    try:
        return build_corpus(folder, config)
    except OSError:
        if (folder / MANIFEST).is_file():  # another process finished the same corpus first
            return folder
        raise


def build_corpus(
    out: str | os.PathLike[str], config: CorpusConfig, *, workers: int | None = None, progress: bool = True
) -> Path:
    """Generate a corpus into ``out`` (which must not exist yet) and return its path.

    Args:
        out: Destination folder.
        config: What to generate.
        workers: Processes to use; default: one per CPU core, at most 8.
        progress: Show a progress bar.
    """
    out = Path(out)
    workers = workers or min(os.cpu_count() or 1, 8)
    names = [f"song_{i:04d}" for i in range(config.songs)]
    splits = exact_split(names, config.seed, config.fractions)
    with atomic_dir(out) as tmp:
        make = functools.partial(_make_song, config=config, root=tmp)
        with tqdm(total=config.songs, desc="synthetic corpus", unit="song", disable=not progress) as bar:
            if workers == 1:
                summaries = [_tick(bar, make(i)) for i in range(config.songs)]
            else:
                pool = concurrent.futures.ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn"))
                try:
                    summaries = [_tick(bar, s) for s in pool.map(make, range(config.songs), chunksize=2)]
                finally:  # on an interrupt, drop queued songs instead of waiting for them
                    pool.shutdown(wait=True, cancel_futures=True)
        manifest = {
            "format": CORPUS_FORMAT,
            "version": CORPUS_VERSION,
            "config": asdict(config),
            "soundfont": soundfont_path().name,
            "roles": list(ROLES),
            "songs": [{"name": s["name"], "split": splits[s["name"]], **s} for s in summaries],
        }
        write_json(tmp / MANIFEST, manifest)
    return out


def read_manifest(path: str | os.PathLike[str]) -> dict[str, Any]:
    """A corpus folder's manifest, checked for format and version.

    Raises:
        DatasetError: If the folder or its manifest is missing, unreadable, or of another format or version.
    """
    file = Path(path) / MANIFEST
    if not file.is_file():
        raise DatasetError(
            f"{path} is not a mixenv corpus (no {MANIFEST}); build one with `mixenv corpus --out {path}`"
        )
    try:
        manifest = json.loads(file.read_text(encoding="utf-8"))
    except json.JSONDecodeError as err:
        raise DatasetError(f"{file} is not valid JSON ({err}); delete the folder and build the corpus again") from err
    if manifest.get("format") != CORPUS_FORMAT or manifest.get("version") != CORPUS_VERSION:
        raise DatasetError(
            f"{file} is {manifest.get('format')!r} version {manifest.get('version')!r}, but this mixenv reads "
            f"{CORPUS_FORMAT!r} version {CORPUS_VERSION}; delete the folder and build the corpus again"
        )
    return manifest


def corpus_songs(path: str | os.PathLike[str], split: str | None = None) -> list[SongRef]:
    """The songs of a corpus folder, in manifest order, optionally of one split."""
    root = Path(path)
    songs = read_manifest(root)["songs"]
    return [
        SongRef(s["name"], s["split"], root / s["name"], SOURCE, load_corpus_song)
        for s in songs
        if split is None or s["split"] == split
    ]


def load_corpus_song(
    path: Path, policy: LoadPolicy | None = None, segment: tuple[int, int] | None = None
) -> Multitrack:
    """Load one corpus song with its reference and ground-truth settings."""
    return load_folder(path, policy=policy, source=SOURCE, segment=segment)


def _tick(bar: tqdm, summary: dict[str, Any]) -> dict[str, Any]:
    bar.update(1)
    return summary


@functools.lru_cache(maxsize=2)
def _soundfont(sample_rate: int) -> SoundfontRenderer:
    """One soundfont synth per worker process and rate (loading the font is the slow part)."""
    return SoundfontRenderer(sample_rate)


def _make_song(index: int, config: CorpusConfig, root: Path) -> dict[str, Any]:
    """Generate song ``index`` into ``root/<name>/`` and return its manifest summary."""
    name = f"song_{index:04d}"
    rng = np.random.default_rng([config.seed, index])
    rate = config.sample_rate
    num_samples = round(config.seconds * rate)
    arrangement = arrange_song(rng, config.seconds)
    folder = root / name
    colourations = {}
    for role in ROLES:
        clean = _soundfont(rate).render(arrangement.parts[role], num_samples)
        if role in MONO_ROLES:
            clean = clean.mean(axis=0, keepdims=True)
        colourations[role] = sample_colouration(rng, role)
        write_audio(folder / f"{role}.wav", apply_colouration(clean, rate, colourations[role], rng), rate)
    # Read the stems back so the reference is rendered from exactly what the files hold.
    stems = {role: read_audio(folder / f"{role}.wav") for role in ROLES}
    space = ParamSpace(ROLES)
    settings = sample_settings(rng, stems, colourations, rate, space)
    reference = Renderer(rate, ROLES).render(stems, settings).mix
    write_audio(folder / "reference.wav", reference, rate)
    save_preset(folder / "settings.json", settings)
    return {
        "name": name,
        **arrangement.describe(),
        "reference_lufs": round(integrated_lufs(reference, rate), 2),
        "reference_peak_dbfs": round(peak_dbfs(reference), 2),
        "colouration": {role: c.as_dict() for role, c in colourations.items()},
    }
