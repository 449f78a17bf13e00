"""Trained networks on disk: one record and one versioned, atomic file format for every kind of model.

The backbone (:mod:`mixenv.backbone`) and the supervised models (:mod:`supervised.checkpoint`) are both a
:class:`Trained` record: the network, the log-mel :class:`~mixenv.features.FeatureConfig` and sample rate it was
trained on, and how it was trained. A file holds that record, the network's architecture config and a kind tag
and version, written atomically; it is read with ``weights_only=True``, so loading a checkpoint never unpickles
code.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Generic, TypeVar

import torch
from torch import nn

from mixenv.data.atomic import atomic_path
from mixenv.features import FeatureConfig

M = TypeVar("M", bound=nn.Module)


@dataclass(frozen=True)
class Trained(Generic[M]):
    """A network with what is needed to use it correctly: the features it reads and its provenance.

    Attributes:
        module: The network, in eval mode when loaded.
        features: The log-mel front end it reads.
        sample_rate: The rate of the audio it was trained on (any rate gives the same time-frequency grid).
        training: How it was trained (JSON-like metadata).
    """

    module: M
    features: FeatureConfig
    sample_rate: int
    training: dict[str, Any] = field(default_factory=dict)


def save_trained(
    path: str | os.PathLike[str], kind: str, version: int, trained: Trained[Any], config: Mapping[str, Any]
) -> Path:
    """Write ``trained`` and its architecture ``config`` to one file tagged ``kind`` and ``version``, atomically.

    Equal checkpoints make equal bytes wherever they are written: ``torch.save`` names the archive inside the file
    after a path it is given (here the temporary one, random), so it is given an open file instead."""
    payload = {
        "format": kind,
        "version": version,
        "config": dict(config),
        "features": asdict(trained.features),
        "sample_rate": int(trained.sample_rate),
        "training": trained.training or {},
        "state_dict": trained.module.state_dict(),
    }
    with atomic_path(path) as tmp, tmp.open("wb") as out:
        torch.save(payload, out)
    return Path(path)


def load_trained(
    path: str | os.PathLike[str], kind: str, version: int, fix: str, build: Callable[[dict[str, Any]], M]
) -> Trained[M]:
    """Read a file written by :func:`save_trained`: ``build(config)`` makes the network, the weights fill it.

    Args:
        path: The file (it must exist: callers say how to make a missing one).
        kind: The expected kind tag, e.g. ``"mixenv-backbone"``.
        version: The expected version.
        fix: What the user should do if the file is unreadable or of another kind or version.
        build: Makes the untrained network from the stored architecture config.

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
    with torch.random.fork_rng(devices=[]):  # the initial weights are overwritten: leave global state alone
        # Supervised-model files written before this record existed call the config "model_config".
        module = build(payload["config"] if "config" in payload else payload["model_config"])
    module.load_state_dict(payload["state_dict"])
    module.eval()
    return Trained(module, FeatureConfig(**payload["features"]), payload["sample_rate"], payload["training"])


def shipped_file(path: Path, what: str, remedy: str) -> Path:
    """``path``, a network that ships in the package, or a ``FileNotFoundError`` naming ``what`` it is and the
    ``remedy`` (the command that makes it, or what to pass instead) if this installation lacks it."""
    if not path.is_file():
        raise FileNotFoundError(f"{what} {path} is missing from this installation; {remedy}")
    return path
