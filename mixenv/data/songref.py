"""References to songs in a collection, loaded on demand (MUSDB18-HQ alone is 30 GB of audio)."""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType

from mixenv.data.audio import AUDIO_SUFFIXES, AudioInfo, audio_info
from mixenv.data.multitrack import Multitrack
from mixenv.data.stems import LoadPolicy


class DatasetError(ValueError):
    """A collection that cannot be listed: missing root, wrong layout, no songs; the message names the fix."""


class MissingDependencyError(ImportError):
    """An optional package that one job needs (building the corpus needs tinysoundfont); the message says how to
    install it."""


def require_module(name: str, how: str) -> ModuleType:
    """Import the optional package ``name``, or raise :class:`MissingDependencyError` with ``how`` to install it."""
    try:
        return importlib.import_module(name)
    except ImportError as err:
        raise MissingDependencyError(how) from err


@dataclass(frozen=True)
class SongRef:
    """One song of a collection, not yet loaded.

    Attributes:
        name: Song name, unique within the collection.
        split: ``"train"``, ``"val"`` or ``"test"``.
        path: The song's folder.
        source: Collection tag (``"synthetic"``, ``"musdb18hq"``, ``"medleydb"``, ``"folder"``).
        loader: Module-level function ``(path, policy, segment) -> Multitrack`` (so references pickle to worker
            processes).
    """

    name: str
    split: str
    path: Path
    source: str
    loader: Callable[[Path, LoadPolicy | None, tuple[int, int] | None], Multitrack]

    def load(self, policy: LoadPolicy | None = None, segment: tuple[int, int] | None = None) -> Multitrack:
        """Read the song's audio (and reference and settings, where the collection has them).

        Args:
            policy: Rate, length and silence handling; the collection's default if None.
            segment: ``(start, num_samples)`` at the loading rate, to read only that part of every file.
        """
        return self.loader(self.path, policy, segment)

    def info(self) -> AudioInfo:
        """Header of the song's first audio file (its rate and length), without decoding any audio.

        Raises:
            DatasetError: If the song folder holds no audio file.
        """
        files = sorted(p for p in self.path.iterdir() if p.suffix.lower() in AUDIO_SUFFIXES)
        files = files or sorted(p for p in self.path.rglob("*") if p.suffix.lower() in AUDIO_SUFFIXES)
        if not files:
            raise DatasetError(f"song {self.name!r} at {self.path} holds no audio files")
        return audio_info(files[0])
