"""MedleyDB (1.x and 2.0): per-song ``<Song>_METADATA.yaml``, ``<Song>_STEMS/`` and ``<Song>_MIX.wav``.

Accepted layouts: ``root/<Song>/`` (or ``root/Audio/<Song>/``) holding the stems folder and mix, with the
metadata file either beside them or in ``root/Metadata/`` (as the MedleyDB repository ships it). Each stem's
``instrument`` label maps onto a role (:data:`INSTRUMENT_ROLES`; unknown labels become ``other``), and stems of
one role are summed. MedleyDB has no official split, so splits come from a hash of the song name.
"""

from __future__ import annotations

import os
from pathlib import Path

import yaml

from mixenv.data.multitrack import Multitrack
from mixenv.data.songref import DatasetError, SongRef
from mixenv.data.splits import hash_split
from mixenv.data.stems import LoadPolicy, StemsError, load_stems

SOURCE = "medleydb"
POLICY = LoadPolicy(on_silent="drop")

INSTRUMENT_ROLES: dict[str, str] = {
    **dict.fromkeys(
        [
            "male singer",
            "female singer",
            "male speaker",
            "female speaker",
            "male rapper",
            "female rapper",
            "vocalists",
            "choir",
            "male screamer",
            "female screamer",
        ],
        "vocals",
    ),
    **dict.fromkeys(
        [
            "drum set",
            "drum machine",
            "auxiliary percussion",
            "kick drum",
            "bass drum",
            "snare drum",
            "toms",
            "cymbal",
            "high hat",
            "tambourine",
            "shaker",
            "cowbell",
            "claps",
            "bongo",
            "conga",
            "tabla",
            "timpani",
            "gong",
            "darbuka",
            "doumbek",
            "cajon",
            "beatboxing",
            "sleigh bells",
            "castanet",
            "guiro",
            "cabasa",
        ],
        "drums",
    ),
    **dict.fromkeys(["electric bass", "double bass", "bass synthesizer", "bass guitar"], "bass"),
}


def medleydb_songs(root: str | os.PathLike[str], split: str | None = None) -> list[SongRef]:
    """List the songs of a MedleyDB tree, sorted by name, optionally of one split.

    Raises:
        DatasetError: If the root is missing, holds no song folders, or a song has no metadata file.
    """
    root = Path(root)
    if not root.is_dir():
        raise DatasetError(f"MedleyDB root {root} does not exist; pass the folder that holds the song folders")
    audio_root = root / "Audio" if (root / "Audio").is_dir() else root
    songs = []
    for folder in sorted(p for p in audio_root.iterdir() if (p / f"{p.name}_STEMS").is_dir()):
        _metadata_path(root, folder)
        songs.append(SongRef(folder.name, hash_split(folder.name), folder, SOURCE, load_medleydb_song))
    if not songs:
        raise DatasetError(
            f"{root} holds no MedleyDB songs (folders <Song>/ with <Song>_STEMS/ inside); check the path"
        )
    return [s for s in songs if split is None or s.split == split]


def role_for_instrument(instrument: str, component: str = "") -> str:
    """The role of a MedleyDB stem: by instrument label, then ``component: bass``, else ``other``."""
    role = INSTRUMENT_ROLES.get(instrument.strip().lower())
    if role is None and component.strip().lower() == "bass":
        return "bass"
    return role or "other"


def load_medleydb_song(
    path: Path, policy: LoadPolicy | None = None, segment: tuple[int, int] | None = None
) -> Multitrack:
    """Load one MedleyDB song folder: stems summed per role, ``<Song>_MIX.wav`` as the reference."""
    metadata_file = _metadata_path(path.parent.parent if path.parent.name == "Audio" else path.parent, path)
    try:
        metadata = yaml.safe_load(metadata_file.read_text(encoding="utf-8"))
        stems = metadata["stems"]
        stem_dir = path / metadata.get("stem_dir", f"{path.name}_STEMS")
        mix_file = path / metadata.get("mix_filename", f"{path.name}_MIX.wav")
        role_files: dict[str, list[Path]] = {}
        for stem in stems.values():
            role = role_for_instrument(str(stem.get("instrument", "")), str(stem.get("component") or ""))
            role_files.setdefault(role, []).append(stem_dir / stem["filename"])
    except (yaml.YAMLError, KeyError, TypeError, AttributeError) as err:
        raise StemsError(f"cannot read MedleyDB metadata {metadata_file} ({err!r}); restore the original file") from err
    return load_stems(
        path.name,
        role_files,
        reference_file=mix_file if mix_file.is_file() else None,
        source=SOURCE,
        policy=policy or POLICY,
        segment=segment,
    )


def _metadata_path(root: Path, song: Path) -> Path:
    name = f"{song.name}_METADATA.yaml"
    for candidate in (song / name, root / "Metadata" / name):
        if candidate.is_file():
            return candidate
    raise DatasetError(
        f"MedleyDB song {song} has no {name} (looked beside the song and in {root / 'Metadata'}); copy the metadata "
        "files from the MedleyDB repository's Metadata folder"
    )
