"""Checkpoints of supervised models: the weights with everything needed to use them, written atomically.

A checkpoint holds the :class:`~supervised.models.config.ModelConfig`, the log-mel
:class:`~mixenv.features.FeatureConfig` and sample rate the model was trained on, how it was trained, and the
whole model's weights (backbone included), so loading it needs no other file. Loading unpickles no code.
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch

from mixenv.checkpoint import load_checkpoint, save_checkpoint
from mixenv.features import FeatureConfig
from supervised.models import MixModel, ModelConfig, build_model

CHECKPOINT_FORMAT = "mixenv-supervised-model"
CHECKPOINT_VERSION = 1
MODEL_FILE = "model.pt"
"""A run folder's best model; :func:`load_model` accepts the folder or the file."""


@dataclass(frozen=True)
class LoadedModel:
    """A model in eval mode with the features it reads and how it was trained."""

    model: MixModel
    features: FeatureConfig
    sample_rate: int
    training: dict[str, Any] = field(default_factory=dict)


def save_model(
    path: str | os.PathLike[str],
    model: MixModel,
    features: FeatureConfig,
    sample_rate: int,
    training: dict[str, Any] | None = None,
) -> Path:
    """Write ``model`` with its configuration to one file, atomically (JSON-like ``training`` metadata)."""
    payload = {
        "model_config": model.config.to_dict(),
        "features": asdict(features),
        "sample_rate": int(sample_rate),
        "training": training or {},
        "state_dict": model.state_dict(),
    }
    return save_checkpoint(path, CHECKPOINT_FORMAT, CHECKPOINT_VERSION, payload)


def model_file(path: str | os.PathLike[str]) -> Path:
    """The checkpoint file of a run folder (``DIR/model.pt``), or ``path`` itself if it is not a folder."""
    path = Path(path)
    return path / MODEL_FILE if path.is_dir() or not path.suffix else path


def load_model(path: str | os.PathLike[str]) -> LoadedModel:
    """Read a model written by :func:`save_model`, from its file or its run folder.

    Raises:
        FileNotFoundError: If there is no checkpoint there (the message says how to train one).
        ValueError: If the file is not a supervised-model checkpoint of this version.
    """
    file = model_file(path)
    if not file.is_file():
        folder = file.parent if file.name == MODEL_FILE else file
        raise FileNotFoundError(
            f"no supervised model at {file}; train one with `python -m supervised.train --model cnn --out {folder}`"
        )
    payload = load_checkpoint(file, CHECKPOINT_FORMAT, CHECKPOINT_VERSION, "train the model again")
    with torch.random.fork_rng(devices=[]):  # the initial weights are overwritten: leave global state alone
        model = build_model(ModelConfig.from_dict(payload["model_config"]))
    model.load_state_dict(payload["state_dict"])
    model.eval()
    return LoadedModel(model, FeatureConfig(**payload["features"]), payload["sample_rate"], payload["training"])
