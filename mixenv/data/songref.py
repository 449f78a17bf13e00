"""References to songs in a collection, loaded on demand (MUSDB18-HQ alone is 30 GB of audio)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from mixenv.data.multitrack import Multitrack
from mixenv.data.stems import LoadPolicy


class DatasetError(ValueError):
    """A collection that cannot be listed: missing root, wrong layout, no songs; the message names the fix."""


@dataclass(frozen=True)
class SongRef:
    """One song of a collection, not yet loaded.

    Attributes:
        name: Song name, unique within the collection.
        split: ``"train"``, ``"val"`` or ``"test"``.
        path: The song's folder.
        source: Collection tag (``"synthetic"``, ``"musdb18hq"``, ``"medleydb"``, ``"folder"``).
        loader: Module-level function ``(path, policy) -> Multitrack`` (so references pickle to worker processes).
    """

    name: str
    split: str
    path: Path
    source: str
    loader: Callable[[Path, LoadPolicy | None], Multitrack]

    def load(self, policy: LoadPolicy | None = None) -> Multitrack:
        """Read the song's audio (and reference and settings, where the collection has them)."""
        return self.loader(self.path, policy)
