"""``mixenv listen make``: mix every song with every method and write a listening-test folder.

Per page (one song): the song's own reference mix (heard twice: as the visible reference and, hidden among the
conditions, as the hidden reference), the reference low-passed at 3.5 kHz (the anchor) and one mix per method, all
cut to the same excerpt and levelled to one loudness (:mod:`mixenv.listen.stimuli`). Listeners see only neutral
condition ids (random per page); which id is which method is written to key.json, which the server never sends.
The folder appears whole or not at all.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np
from tqdm.auto import tqdm

from mixenv.data import load_folder, write_audio
from mixenv.data.atomic import atomic_dir
from mixenv.data.folder import folder_roles
from mixenv.listen import stimuli
from mixenv.listen.layout import (
    ANCHOR,
    HIDDEN_REFERENCE,
    KEY_FILE,
    KEY_FORMAT,
    PAGE_FILES,
    RATINGS_FILE,
    TEST_FILE,
    TEST_FORMAT,
    ListenError,
)
from mixenv.mixing import METHODS, mix

DEFAULT_METHODS = ("loudness", "model", "refine")
MAX_STIMULI = 11
"""BS.1534-3 keeps a page under 12 stimuli (the reference, the hidden reference, the anchor and the methods): more
than listeners can compare."""
MAX_METHODS = MAX_STIMULI - 3
MODEL_METHODS = ("model", "refine")
"""The methods a ``NAME:MODEL_PATH`` spec may give another model to (a supervised run folder or model.pt)."""
DEFAULT_BUDGET = 30
"""Renders of a ``refine`` search: fewer than ``mixenv mix``'s 100, so that a test of several songs is made in
minutes."""


@dataclass(frozen=True)
class Method:
    """One method under test: ``label`` is how key.json and the analysis name it (the spec as given)."""

    label: str
    name: str
    model: Path | None = None


@dataclass(frozen=True)
class MadeTest:
    """What :func:`make_test` wrote: the folder, its pages' songs, and the stimuli per page."""

    folder: Path
    songs: tuple[str, ...]
    stimuli_per_page: int


def parse_methods(specs: Sequence[str]) -> list[Method]:
    """``["loudness", "model:runs/crnn"]`` -> the methods to compare; each ``NAME`` or ``NAME:MODEL_PATH``.

    Raises:
        ListenError: For none, too many (a page would hold 12 stimuli or more), a repeated or unknown one, or a
            model path given to a method that takes no model.
        FileNotFoundError: For a model path that does not exist.
    """
    specs = [spec.strip() for spec in specs if spec.strip()]
    if not specs:
        raise ListenError("--methods names no method; pass e.g. --methods loudness,model,refine")
    if len(specs) > MAX_METHODS:
        raise ListenError(
            f"--methods names {len(specs)} methods: with the reference, the hidden reference and the anchor a page "
            f"would hold {len(specs) + 3} stimuli, and BS.1534-3 keeps a page under 12; compare at most "
            f"{MAX_METHODS} methods per test"
        )
    repeated = sorted({spec for spec in specs if specs.count(spec) > 1})
    if repeated:
        raise ListenError(f"--methods names {', '.join(repeated)} more than once; name each method once")
    known = [m for m in METHODS if m != "auto"]
    methods = []
    for spec in specs:
        name, sep, model = spec.partition(":")
        if name not in known:
            raise ListenError(f"unknown method {name!r} in --methods; use {', '.join(known)}")
        if sep and name not in MODEL_METHODS:
            raise ListenError(f"method {name!r} takes no model ({spec!r}); only {' and '.join(MODEL_METHODS)} do")
        if sep and not Path(model).exists():
            raise FileNotFoundError(f"model {model} (in --methods {spec!r}) does not exist; pass a run folder or .pt")
        methods.append(Method(spec, name, Path(model) if sep else None))
    return methods


def song_folders(songs: Path, pages: int) -> list[Path]:
    """The first ``pages`` song folders of ``songs`` (sorted by name), each checked to hold a reference mix.

    Raises:
        ListenError: If ``songs`` is not a folder of song folders, or a song folder has no reference mix.
    """
    if pages < 1:
        raise ListenError(f"--pages must be at least 1, got {pages}")
    if not songs.is_dir():
        raise ListenError(f"--songs {songs} is not a folder; pass a folder of song folders (as `mixenv corpus` writes)")
    folders = sorted(p for p in songs.iterdir() if p.is_dir() and not p.name.startswith("."))[:pages]
    if not folders:
        raise ListenError(
            f"--songs {songs} holds no song folders; pass a folder with one folder of stems and reference.wav per song"
        )
    for folder in folders:
        if "reference" not in folder_roles(folder):
            raise ListenError(
                f"song folder {folder} has no reference mix; add reference.wav (or mix.wav): the test plays it as "
                "the reference listeners compare the methods with"
            )
    return folders


def make_test(
    songs: Path,
    out: Path,
    *,
    methods: Sequence[str] = DEFAULT_METHODS,
    pages: int = 6,
    seconds: float = 10.0,
    seed: int = 0,
    budget: int = DEFAULT_BUDGET,
    target_lufs: float = stimuli.TARGET_LUFS,
    force: bool = False,
    progress: bool = False,
) -> MadeTest:
    """Mix the first ``pages`` songs of ``songs`` with each method and write a listening test to ``out``.

    Args:
        songs: A folder of song folders, each of stems and a reference mix.
        out: The test folder to write; it appears whole or not at all.
        methods: Method specs (:func:`parse_methods`).
        pages: At most this many songs, one page each.
        seconds: Length of each excerpt (the middle of the song; the whole song if shorter).
        seed: Seeds the searches and the condition ids (same seed, same folder).
        budget: Renders a ``refine`` or ``cmaes`` search may spend.
        target_lufs: The loudness of every stimulus.
        force: Replace ``out`` if it is a test folder without ratings.
        progress: Show a progress bar over the mixes.

    Raises:
        ListenError: For bad methods, songs or lengths (see :func:`parse_methods`, :func:`song_folders`).
        FileExistsError: If ``out`` exists and ``force`` is not given, or cannot be replaced safely.
    """
    chosen = parse_methods(methods)
    if seconds <= 0:
        raise ListenError(f"--seconds must be positive, got {seconds}")
    folders = song_folders(songs, pages)
    _check_replaceable(out, force)
    test_pages, key_pages = [], {}
    with _replacing(out) as tmp, tqdm(total=len(folders) * len(chosen), disable=not progress, unit="mix") as bar:
        for index, folder in enumerate(folders, start=1):
            page_id = f"p{index}"
            page, key = _write_page(folder, page_id, tmp, chosen, seconds, seed, budget, target_lufs, bar)
            test_pages.append(page)
            key_pages[page_id] = key
        _write_json(tmp / TEST_FILE, {"format": TEST_FORMAT[0], "version": TEST_FORMAT[1], "pages": test_pages})
        settings = {"seconds": seconds, "seed": seed, "budget": budget, "target_lufs": target_lufs}
        key = {"format": KEY_FORMAT[0], "version": KEY_FORMAT[1], "methods": [m.label for m in chosen], **settings}
        _write_json(tmp / KEY_FILE, {**key, "songs": str(songs.resolve()), "pages": key_pages})
        for name in PAGE_FILES:
            (tmp / name).write_bytes(resources.files(__package__).joinpath("page", name).read_bytes())
    return MadeTest(out, tuple(f.name for f in folders), len(chosen) + 3)


def _write_page(
    folder: Path,
    page_id: str,
    tmp: Path,
    methods: list[Method],
    seconds: float,
    seed: int,
    budget: int,
    target_lufs: float,
    bar: tqdm,
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Mix one song, write its stimuli, and return its test.json and key.json entries."""
    song = load_folder(folder)
    rate = song.sample_rate
    start, length = stimuli.excerpt_bounds(song.num_samples, rate, seconds)
    reference = stimuli.cut(song.reference, rate, start, length)
    excerpts = {HIDDEN_REFERENCE: reference, ANCHOR: stimuli.low_pass_anchor(reference, rate)}
    for method in methods:
        bar.set_description(f"{folder.name}: {method.label}")
        result = mix(song, method=method.name, model=method.model, budget=budget, seed=seed)
        excerpts[method.label] = stimuli.cut(result.audio, rate, start, length)
        bar.update()
    try:
        levelled, turn_down_db = stimuli.level_page(excerpts, rate, target_lufs)
    except ListenError as err:
        raise ListenError(f"song {folder}: {err}") from err
    ids = _condition_ids(len(levelled), seed, page_id)
    stimuli_dir = Path("stimuli") / page_id
    write_audio(tmp / stimuli_dir / "reference.wav", levelled[HIDDEN_REFERENCE], rate)
    conditions = {}
    for condition_id, (name, audio) in zip(ids, levelled.items(), strict=True):
        write_audio(tmp / stimuli_dir / f"{condition_id}.wav", audio, rate)
        conditions[condition_id] = name
    page = {
        "id": page_id,
        "reference": f"{stimuli_dir.as_posix()}/reference.wav",
        "conditions": [{"id": c, "file": f"{stimuli_dir.as_posix()}/{c}.wav"} for c in sorted(conditions)],
    }
    key = {
        "song": folder.name,
        "start_seconds": start / rate,
        "seconds": length / rate,
        "sample_rate": rate,
        "turn_down_db": round(turn_down_db, 3),
        "conditions": conditions,
    }
    return page, key


def _condition_ids(count: int, seed: int, page_id: str) -> list[str]:
    """``count`` distinct random six-hex-digit ids, seeded by the test's seed and the page."""
    rng = np.random.default_rng([seed, int(page_id[1:])])
    ids: list[str] = []
    while len(ids) < count:
        candidate = f"{int(rng.integers(0, 16**6)):06x}"
        if candidate not in ids:
            ids.append(candidate)
    return ids


def _write_json(path: Path, data: Any) -> None:
    path.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")


def _check_replaceable(out: Path, force: bool) -> None:
    """Refuse an existing ``out`` without ``force``; with it, refuse anything but a test folder without ratings."""
    if not out.exists():
        return
    if not force:
        raise FileExistsError(f"{out} exists; pass --force to replace it, or choose another --out")
    if not (out / TEST_FILE).is_file():
        raise FileExistsError(
            f"{out} exists and is not a listening-test folder (no {TEST_FILE}); --force replaces only those, so "
            "choose another --out"
        )
    if (out / RATINGS_FILE).exists():
        raise FileExistsError(
            f"{out} holds listeners' ratings ({RATINGS_FILE}); --force would delete them: move the folder away first"
        )


@contextlib.contextmanager
def _replacing(out: Path) -> Iterator[Path]:
    """Yield a temporary folder beside ``out``; on success it becomes ``out`` (an old ``out`` is deleted after),
    on error it is deleted and ``out`` is left as it was."""
    out.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=f".{out.name}.", suffix=".old", dir=out.parent) as trash:
        staged = Path(trash) / "new"
        with atomic_dir(staged) as tmp:
            yield tmp
        if out.exists():
            os.replace(out, Path(trash) / "old")
        os.replace(staged, out)
