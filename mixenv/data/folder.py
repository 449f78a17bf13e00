"""A folder of stems as a song: roles read off file names, with an explicit mapping to override them.

Layout (what ``mixenv corpus`` writes, and what a musician exports from a DAW)::

    song/
      vocals.wav  drums.wav  bass.wav  other.wav     # or any names: "Lead Vox.wav", "Kick.flac", "Synth Bass.wav"
      reference.wav                                  # optional: also "mixture", "mix", "master"
      settings.json                                  # optional: ground-truth preset

Several files that map to one role are summed into that role's stem (kick + snare + overheads -> drums).
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Mapping
from pathlib import Path

from mixenv.data.audio import AUDIO_SUFFIXES
from mixenv.data.multitrack import Multitrack
from mixenv.data.stems import LoadPolicy, SongFiles, StemsError, load_stems, open_stems
from mixenv.params import ROLES, MixSettings, ParamSpace
from mixenv.presets import load_preset

log = logging.getLogger(__name__)

REFERENCE_NAMES = frozenset({"reference", "mixture", "mix", "master"})
SETTINGS_FILE = "settings.json"

_KEYWORDS: dict[str, frozenset[str]] = {
    # Checked in this order: "bass drum" and "kick" are drums, not bass.
    "drums": frozenset(
        "drum drums kick kik snare snr hat hats hihat hh tom toms cymbal cymbals overhead overheads oh ride crash "
        "perc percussion clap claps shaker tamb tambourine conga bongo".split()
    ),
    "vocals": frozenset(
        "vocal vocals vox voc voice voices vocalist singer sing lead_vocal bv bvs choir rap backing harmony "
        "harmonies adlib adlibs".split()
    ),
    "bass": frozenset("bass basses bassline subbass sub 808 contrabass".split()),
}


def role_from_name(file_name: str) -> str | None:
    """The role a stem file's name suggests; ``None`` for reference-mix names.

    Exact role names win; otherwise the first role with a keyword among the name's words, else ``"other"``.
    """
    stem = Path(file_name).stem.lower()
    if stem in REFERENCE_NAMES:
        return None
    if stem in ROLES:
        return stem
    words = set(re.split(r"[^a-z0-9]+", stem)) | {stem.replace(" ", "_")}
    for role, keywords in _KEYWORDS.items():
        if words & keywords:
            return role
    return "other"


def load_folder(
    path: str | os.PathLike[str],
    *,
    roles: Mapping[str, str] | None = None,
    policy: LoadPolicy | None = None,
    name: str | None = None,
    source: str = "folder",
    segment: tuple[int, int] | None = None,
) -> Multitrack:
    """Load a folder of stems as one song.

    Args:
        path: The folder.
        roles: File name (with or without suffix) -> role, overriding what the names suggest. Map a file to
            ``"reference"`` to use it as the reference mix, or to ``"ignore"`` to leave it out.
        policy: Rate, length and silence handling.
        name: Song name; defaults to the folder's name.
        source: Source tag for the record.
        segment: ``(start, num_samples)`` to read only part of the song (see :func:`load_stems`).

    Raises:
        StemsError: If the folder is missing or holds no audio, a mapping names a file that is not there or a
            role that does not exist, or the policy refuses the files.
    """
    assignment, reference, settings = _song_files(Path(path), roles)
    return load_stems(
        name or Path(path).name,
        assignment,
        reference_file=reference,
        settings=settings,
        source=source,
        policy=policy,
        segment=segment,
    )


def open_folder(
    path: str | os.PathLike[str],
    *,
    roles: Mapping[str, str] | None = None,
    policy: LoadPolicy | None = None,
    name: str | None = None,
    source: str = "folder",
) -> SongFiles:
    """A folder of stems as :func:`load_folder` reads it, left on disk to be read block by block (a long song in
    bounded memory; see :class:`mixenv.data.stems.SongFiles`). Same arguments and errors."""
    assignment, reference, settings = _song_files(Path(path), roles)
    return open_stems(
        name or Path(path).name, assignment, reference_file=reference, settings=settings, source=source, policy=policy
    )


def _song_files(
    folder: Path, roles: Mapping[str, str] | None
) -> tuple[dict[str, list[Path]], Path | None, MixSettings | None]:
    """The folder's stem files by role, its reference file and its ground-truth settings, if any."""
    assignment = folder_roles(folder, roles)
    references = assignment.pop("reference", [])
    if len(references) > 1:
        raise StemsError(
            f"stems folder {folder} has several reference mixes ({', '.join(p.name for p in references)}); keep one, "
            "or map the others to a role with --role FILE=ROLE"
        )
    if not assignment:
        raise StemsError(f"stems folder {folder} holds only a reference mix; the stems themselves are missing")
    settings_file = folder / SETTINGS_FILE
    settings = load_preset(settings_file, ParamSpace(ROLES)).settings if settings_file.is_file() else None
    return assignment, references[0] if references else None, settings


def folder_roles(path: str | os.PathLike[str], roles: Mapping[str, str] | None = None) -> dict[str, list[Path]]:
    """Role (or ``"reference"``) -> the folder's audio files that make it up, as :func:`load_folder` reads them.

    Raises:
        StemsError: If the folder is missing or holds no audio, or ``roles`` names a missing file or unknown role.
    """
    folder = Path(path)
    if not folder.is_dir():
        raise StemsError(f"stems folder {folder} does not exist; pass the folder that holds one audio file per stem")
    files = sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in AUDIO_SUFFIXES)
    if not files:
        raise StemsError(
            f"stems folder {folder} holds no audio files ({', '.join(AUDIO_SUFFIXES)}); export the stems there first"
        )
    return _assign(folder, files, roles or {})


def _assign(folder: Path, files: list[Path], mapping: Mapping[str, str]) -> dict[str, list[Path]]:
    by_name = {f.name: f for f in files} | {f.stem: f for f in files}
    for file_name, role in mapping.items():
        if file_name not in by_name:
            raise StemsError(f"--role maps {file_name!r}, but {folder} has no such audio file")
        if role not in (*ROLES, "reference", "ignore"):
            raise StemsError(
                f"--role maps {file_name!r} to unknown role {role!r}; use one of {', '.join(ROLES)}, "
                "reference or ignore"
            )
    explicit = {by_name[k]: v for k, v in mapping.items()}
    assignment: dict[str, list[Path]] = {}
    for f in files:
        role = explicit.get(f) or role_from_name(f.name) or "reference"
        if role != "ignore":
            assignment.setdefault(role, []).append(f)
    inferred = {f.name: r for r, fs in assignment.items() for f in fs if f not in explicit and f.stem.lower() != r}
    if inferred:
        log.info("%s: roles from file names: %s", folder, ", ".join(f"{k} -> {v}" for k, v in inferred.items()))
    return {role: assignment[role] for role in (*ROLES, "reference") if role in assignment}
