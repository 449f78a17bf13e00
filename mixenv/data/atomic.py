"""Atomic writes: a file or folder appears whole under its final name, or not at all.

Everything mixenv writes that another run may read (corpus songs, manifests, presets, checkpoints) goes through
these helpers, so an interrupted run never leaves a half-written file behind under the real name.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np


def _current_umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


_UMASK = _current_umask()
"""Read once at import: temporary files are created private (0600/0700) and get the usual modes on success."""


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; on success rename it onto ``path``, on error delete it.

    The temporary file keeps ``path``'s suffix so format-sniffing writers (audio, numpy) behave the same.
    """
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=f".tmp{target.suffix}", dir=target.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        yield tmp
        os.chmod(tmp, 0o666 & ~_UMASK)
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)


@contextlib.contextmanager
def exclusive(path: str | os.PathLike[str], on_wait: Callable[[], object] | None = None) -> Iterator[None]:
    """Hold the body alone among processes making ``path``: an advisory lock on ``.NAME.lock`` beside it (kept
    there: deleting it while another process waits would let a third one in), released on exit or on a crash.

    For work that several processes may start at once, such as a default artefact built on first use by two runs
    or test workers: the second waits, then finds the first one's result instead of making it again.

    Args:
        path: What the body makes.
        on_wait: Called once before waiting, if another process holds the lock (to say why nothing happens).
    """
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    with open(target.with_name(f".{target.name}.lock"), "a") as lock:  # released on close, or when the process dies
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            if on_wait is not None:
                on_wait()
            fcntl.flock(lock, fcntl.LOCK_EX)
        yield


@contextlib.contextmanager
def atomic_dir(path: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temporary folder beside ``path``; on success rename it to ``path``, on error delete it.

    Raises:
        FileExistsError: If ``path`` already exists (a finished folder is never overwritten in place).
    """
    target = Path(path)
    if target.exists():
        raise FileExistsError(f"{target} already exists; delete it or choose another output folder")
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent))
    try:
        yield tmp
        os.chmod(tmp, 0o777 & ~_UMASK)
        os.replace(tmp, target)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)


@contextlib.contextmanager
def replacing_dir(path: str | os.PathLike[str]) -> Iterator[Path]:
    """As :func:`atomic_dir`, but a folder already at ``path`` is replaced once the new one is whole.

    The old folder is renamed aside, the new one into place, then the old one deleted: a failure while writing
    leaves the old folder as it was, and only a crash between the two renames leaves it aside (as ``.NAME.*.old``).
    """
    target = Path(path)
    new = target.with_name(f".{target.name}.new")
    shutil.rmtree(new, ignore_errors=True)  # what a crash between the renames of an earlier call left
    with atomic_dir(new) as tmp:
        yield tmp
    old = Path(tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".old", dir=target.parent))
    try:
        if target.exists():
            os.replace(target, old / target.name)
        os.replace(new, target)
    finally:
        shutil.rmtree(old, ignore_errors=True)
        shutil.rmtree(new, ignore_errors=True)


def write_json(path: str | os.PathLike[str], data: Any) -> None:
    """Write ``data`` as indented JSON, atomically."""
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(data, indent=2, sort_keys=False) + "\n", encoding="utf-8")


def save_arrays(path: str | os.PathLike[str], kind: str, version: int, arrays: dict[str, Any]) -> Path:
    """Write named arrays to an ``.npz`` file tagged with a kind and version, atomically."""
    with atomic_path(path) as tmp, open(tmp, "wb") as file:
        np.savez(file, format=np.array(kind), version=np.array(version), **arrays)
    return Path(path)


def load_arrays(path: str | os.PathLike[str], kind: str, version: int, fix: str) -> dict[str, np.ndarray]:
    """Read a file written by :func:`save_arrays`, checking its kind and version (no pickles are loaded).

    Args:
        path: The file.
        kind: The expected kind tag.
        version: The expected version.
        fix: What the user should do if the file is missing or of another kind or version.

    Raises:
        FileNotFoundError: If the file does not exist.
        ValueError: If it is of another kind or version.
    """
    path, what = Path(path), kind.replace("-", " ")
    if not path.is_file():
        raise FileNotFoundError(f"{what} {path} does not exist; {fix}")
    with np.load(path, allow_pickle=False) as data:
        arrays = dict(data)
    if str(arrays.get("format")) != kind or int(arrays.get("version", -1)) != version:
        raise ValueError(f"{path} is not a version-{version} {what}; {fix}")
    return arrays
