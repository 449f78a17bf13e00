"""MUSDB18-HQ: ``root/{train,test}/<song>/{mixture,vocals,drums,bass,other}.wav`` at 44.1 kHz.

The validation split is MUSDB's own: the 14 training songs that ``musdb`` (sigsep) holds out as ``subsets="train",
split="valid"``. MUSDB has no mix settings, so its songs carry no ground truth; ``mixture.wav`` is the reference.
"""

from __future__ import annotations

import os
from pathlib import Path

from mixenv.data.folder import load_folder
from mixenv.data.multitrack import Multitrack
from mixenv.data.songref import DatasetError, SongRef
from mixenv.data.stems import LoadPolicy
from mixenv.params import ROLES

SOURCE = "musdb18hq"
FILES: tuple[str, ...] = ("mixture.wav", *(f"{role}.wav" for role in ROLES))
VALIDATION_SONGS = frozenset(
    {
        "Actions - One Minute Smile",
        "Clara Berry And Wooldog - Waltz For My Victims",
        "Johnny Lokke - Promises & Lies",
        "Patrick Talbot - A Reason To Leave",
        "Triviul - Angelsaint",
        "Alexander Ross - Goodbye Bolero",
        "Fergessen - Nos Palpitants",
        "Leaf - Summerghost",
        "Skelpolu - Human Mistakes",
        "Young Griffo - Pennies",
        "ANiMAL - Rockshow",
        "James May - On The Line",
        "Meaxic - Take A Step",
        "Traffic Experiment - Sirens",
    }
)
POLICY = LoadPolicy(on_silent="drop")
"""MUSDB's default policy: a few songs have an all-silent stem (no vocals, say); that role is absent for them."""


def musdb18hq_songs(root: str | os.PathLike[str], split: str | None = None) -> list[SongRef]:
    """List the songs of a MUSDB18-HQ tree, sorted by name, optionally of one split.

    Raises:
        DatasetError: If the root is missing, has neither ``train/`` nor ``test/``, or a song lacks a file.
    """
    root = Path(root)
    if not root.is_dir():
        raise DatasetError(
            f"MUSDB18-HQ root {root} does not exist; download MUSDB18-HQ (zenodo.org/records/3338373), unzip it and "
            "pass the folder that holds train/ and test/"
        )
    subsets = [root / s for s in ("train", "test") if (root / s).is_dir()]
    if not subsets:
        raise DatasetError(f"{root} has neither train/ nor test/; pass the MUSDB18-HQ root folder that holds them")
    songs = []
    for subset in subsets:
        for folder in sorted(p for p in subset.iterdir() if p.is_dir()):
            missing = [f for f in FILES if not (folder / f).is_file()]
            if missing:
                raise DatasetError(f"MUSDB18-HQ song {folder} lacks {', '.join(missing)}; re-extract the dataset")
            song_split = "test" if subset.name == "test" else "val" if folder.name in VALIDATION_SONGS else "train"
            songs.append(SongRef(folder.name, song_split, folder, SOURCE, load_musdb18hq_song))
    return [s for s in songs if split is None or s.split == split]


def load_musdb18hq_song(
    path: Path, policy: LoadPolicy | None = None, segment: tuple[int, int] | None = None
) -> Multitrack:
    """Load one MUSDB18-HQ song folder (``mixture.wav`` becomes the reference)."""
    return load_folder(path, policy=policy or POLICY, source=SOURCE, segment=segment)
