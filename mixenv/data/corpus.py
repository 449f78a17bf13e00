"""Reading a synthetic corpus folder: its manifest, its songs, where the default one is cached.

Layout (what :func:`mixenv.data.synth.corpus.build_corpus` and ``mixenv corpus`` write)::

    DIR/manifest.json                    format, version, config, split and a summary of every song
    DIR/<song>/{vocals,drums,bass,other}.wav   raw coloured stems, 16-bit (vocals and bass mono)
    DIR/<song>/reference.wav             the reference mix: the stems rendered under the ground truth
    DIR/<song>/settings.json             the ground truth, as a preset

Reading needs nothing of the generator: the soundfont renderer (:mod:`mixenv.data.synth`) is imported only to
build a corpus.
"""

from __future__ import annotations

import functools
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mixenv.data.folder import load_folder
from mixenv.data.multitrack import Multitrack
from mixenv.data.songref import DatasetError, SongRef
from mixenv.data.splits import DEFAULT_FRACTIONS
from mixenv.data.stems import LoadPolicy

CORPUS_FORMAT = "mixenv-corpus"
CORPUS_VERSION = 1
"""Bump when generation changes, so cached corpora of the old recipe are not mistaken for new ones."""
MANIFEST = "manifest.json"
STYLES: tuple[str, ...] = ("synthetic", "classics", "chorales", "folk")
"""The corpus styles (:mod:`mixenv.data.synth.styles`): ``synthetic`` and ``classics`` train; the others are
evaluation sets."""


@dataclass(frozen=True)
class CorpusConfig:
    """What to generate; the defaults are the default corpus (240 songs of 10 s at 22.05 kHz, seed 0).

    Attributes:
        songs: Number of songs.
        seconds: Length of each song.
        seed: Master seed; song ``i`` uses ``[seed, i]``.
        sample_rate: Sample rate of every file, in Hz.
        fractions: Train/val/test shares, split exactly by a permutation drawn from ``seed``.
        style: Which process makes the songs (:data:`STYLES`).
    """

    songs: int = 240
    seconds: float = 10.0
    seed: int = 0
    sample_rate: int = 22_050
    fractions: tuple[float, float, float] = DEFAULT_FRACTIONS
    style: str = "synthetic"

    def __post_init__(self) -> None:
        if self.songs < 1:
            raise ValueError(f"a corpus needs at least 1 song, got songs={self.songs}")
        if not 1.0 <= self.seconds <= 600.0:
            raise ValueError(f"song length must be within [1, 600] seconds, got seconds={self.seconds}")
        if self.sample_rate < 16_000:
            raise ValueError(f"sample_rate must be at least 16000 Hz, got {self.sample_rate}")
        if self.style not in STYLES:
            raise ValueError(f"unknown corpus style {self.style!r}; choose one of {', '.join(STYLES)}")

    def folder_name(self) -> str:
        """Cache folder name that identifies this recipe and configuration."""
        split = "" if self.fractions == DEFAULT_FRACTIONS else "-" + "-".join(f"{f:g}" for f in self.fractions)
        name = f"{self.style}-v{CORPUS_VERSION}-n{self.songs}-{self.seconds:g}s-{self.sample_rate}hz-seed{self.seed}"
        return name + split


def data_root() -> Path:
    """Where mixenv caches data: ``$MIXENV_DATA``, else ``$XDG_CACHE_HOME/mixenv``, else ``~/.cache/mixenv``."""
    if os.environ.get("MIXENV_DATA"):
        return Path(os.environ["MIXENV_DATA"]).expanduser()
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "mixenv"


def default_corpus_path(config: CorpusConfig | None = None) -> Path:
    """The cache folder of the corpus ``config`` describes (the default corpus for ``None``), built or not."""
    return data_root() / (config or CorpusConfig()).folder_name()


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
    manifest = read_manifest(root)
    style = manifest["config"].get("style", "synthetic")
    load = functools.partial(load_corpus_song, source=style)
    return [
        SongRef(s["name"], s["split"], root / s["name"], style, load)
        for s in manifest["songs"]
        if split in (None, s["split"])
    ]


def load_corpus_song(
    path: Path, policy: LoadPolicy | None = None, segment: tuple[int, int] | None = None, *, source: str = "synthetic"
) -> Multitrack:
    """Load one corpus song with its reference and ground-truth settings (``source``: the corpus style)."""
    return load_folder(path, policy=policy, source=source, segment=segment)
