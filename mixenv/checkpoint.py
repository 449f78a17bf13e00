"""Versioned torch checkpoints: one dict per file, tagged with a kind and a version, written atomically.

The backbone (:mod:`mixenv.backbone`) and the supervised models (:mod:`supervised.checkpoint`) both store their
weights this way. Files are read with ``weights_only=True``, so loading a checkpoint never unpickles code.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import torch

from mixenv.data.atomic import atomic_path


def save_checkpoint(path: str | os.PathLike[str], kind: str, version: int, payload: dict[str, Any]) -> Path:
    """Write ``payload`` (tensors, plain containers, numbers, strings) tagged with ``kind`` and ``version``."""
    with atomic_path(path) as tmp:
        torch.save({"format": kind, "version": version, **payload}, tmp)
    return Path(path)


def load_checkpoint(path: str | os.PathLike[str], kind: str, version: int, fix: str) -> dict[str, Any]:
    """Read a file written by :func:`save_checkpoint`, checking its kind and version.

    Args:
        path: The file (it must exist: callers say how to make a missing one).
        kind: The expected kind tag, e.g. ``"mixenv-backbone"``.
        version: The expected version.
        fix: What the user should do if the file is unreadable or of another kind or version.

    Raises:
        ValueError: If the file is unreadable, or of another kind or version.
    """
    what = kind.replace("-", " ")
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # torch raises several types for truncated or foreign files
        raise ValueError(f"{path} is not a readable {what} checkpoint ({err}); {fix}") from err
    if not isinstance(payload, dict) or payload.get("format") != kind:
        raise ValueError(f"{path} is not a {what} checkpoint; {fix}")
    if payload.get("version") != version:
        found = payload.get("version")
        raise ValueError(f"{path} is {what} checkpoint version {found}, this mixenv reads {version}; {fix}")
    return payload
