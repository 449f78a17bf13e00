"""One entry point to every song collection: ``list_songs(source, path, split)``."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

from mixenv.data.audio import AUDIO_SUFFIXES
from mixenv.data.corpus import MANIFEST, corpus_songs, default_corpus_path
from mixenv.data.folder import load_folder
from mixenv.data.medleydb import medleydb_songs
from mixenv.data.multitrack import Multitrack
from mixenv.data.musdb import musdb18hq_songs
from mixenv.data.songref import DatasetError, SongRef
from mixenv.data.splits import SPLITS, hash_split
from mixenv.data.stems import LoadPolicy


def folder_songs(path: str | os.PathLike[str], split: str | None = None) -> list[SongRef]:
    """Songs under a folder: a corpus (with ``manifest.json``), a folder of song folders, or one song's stems.

    Without a manifest, splits come from :func:`~mixenv.data.splits.hash_split` of each song's name.

    Raises:
        DatasetError: If the folder is missing or holds no song.
    """
    root = Path(path)
    if not root.is_dir():
        raise DatasetError(f"dataset folder {root} does not exist; pass a folder of song folders (or of stems)")
    if (root / MANIFEST).is_file():
        return corpus_songs(root, split)
    folders = sorted(p for p in root.iterdir() if p.is_dir() and _has_audio(p))
    if not folders and _has_audio(root):
        folders = [root]
    if not folders:
        raise DatasetError(
            f"{root} holds no songs: expected song folders with audio files ({', '.join(AUDIO_SUFFIXES)}) in them"
        )
    songs = [SongRef(f.name, hash_split(f.name), f, "folder", load_folder_song) for f in folders]
    return [s for s in songs if split is None or s.split == split]


def load_folder_song(
    path: Path, policy: LoadPolicy | None = None, segment: tuple[int, int] | None = None
) -> Multitrack:
    """Load a song folder of a plain collection."""
    return load_folder(path, policy=policy, source="folder", segment=segment)


def _synthetic_songs(path: str | os.PathLike[str] | None, split: str | None) -> list[SongRef]:
    if path is None:
        path = default_corpus_path()
        if not (path / MANIFEST).is_file():
            raise DatasetError(
                f"the default synthetic corpus is not built yet (expected in {path}); build it with `mixenv prepare` "
                "(about a minute), or pass data_path=... (CLI: --data-path) to read another collection"
            )
    return corpus_songs(path, split)


def _needs_path(lister: Callable[[str | os.PathLike[str], str | None], list[SongRef]], name: str):
    def listed(path: str | os.PathLike[str] | None, split: str | None) -> list[SongRef]:
        if path is None:
            raise DatasetError(f"data source {name!r} needs a path: pass data_path=... (CLI: --data-path)")
        return lister(path, split)

    return listed


SOURCES: dict[str, Callable[[str | os.PathLike[str] | None, str | None], list[SongRef]]] = {
    "synthetic": _synthetic_songs,
    "musdb18hq": _needs_path(musdb18hq_songs, "musdb18hq"),
    "medleydb": _needs_path(medleydb_songs, "medleydb"),
    "folder": _needs_path(folder_songs, "folder"),
}


def list_songs(
    source: str = "synthetic", path: str | os.PathLike[str] | None = None, split: str | None = None
) -> list[SongRef]:
    """List the songs of a collection.

    Args:
        source: ``"synthetic"`` (the embedded corpus; with ``path`` None the default one, which ``mixenv prepare``
            builds), ``"musdb18hq"``, ``"medleydb"`` or ``"folder"``.
        path: The collection's root folder.
        split: ``"train"``, ``"val"``, ``"test"`` or None for all.

    Raises:
        DatasetError: For an unknown source or split, a missing path, or a split with no songs.
    """
    if source not in SOURCES:
        raise DatasetError(f"unknown data source {source!r}; choose one of {', '.join(SOURCES)}")
    if split is not None and split not in SPLITS:
        raise DatasetError(f"unknown split {split!r}; choose one of {', '.join(SPLITS)} (or None for all songs)")
    songs = SOURCES[source](path, split)
    if not songs:
        raise DatasetError(f"data source {source!r} at {path or 'the default corpus'} has no songs in split {split!r}")
    return songs


def _has_audio(folder: Path) -> bool:
    return any(p.suffix.lower() in AUDIO_SUFFIXES for p in folder.iterdir() if p.is_file())
