"""Checkpoints of supervised models: the weights with everything needed to use them, written atomically.

A checkpoint is a :class:`~mixenv.checkpoint.Trained` record: the whole model's weights (backbone included), its
:class:`~supervised.models.config.ModelConfig`, the log-mel :class:`~mixenv.features.FeatureConfig` and sample
rate it was trained on, and how it was trained; loading it needs no other file and unpickles no code.
"""

from __future__ import annotations

import os
from pathlib import Path

from mixenv.checkpoint import Trained, load_trained, save_trained
from supervised.models import MixModel, ModelConfig, build_model

CHECKPOINT_FORMAT = "mixenv-supervised-model"
CHECKPOINT_VERSION = 1
MODEL_FILE = "model.pt"
"""A run folder's best model; :func:`load_model` accepts the folder or the file."""

LoadedModel = Trained[MixModel]
"""A model in eval mode with the features it reads and how it was trained (``loaded.module`` is the model)."""


def save_model(path: str | os.PathLike[str], loaded: LoadedModel) -> Path:
    """Write a model with its configuration to one file, atomically (JSON-like ``training`` metadata)."""
    return save_trained(path, CHECKPOINT_FORMAT, CHECKPOINT_VERSION, loaded, loaded.module.config.to_dict())


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
    return load_trained(
        file,
        CHECKPOINT_FORMAT,
        CHECKPOINT_VERSION,
        "train the model again",
        lambda config: build_model(ModelConfig.from_dict(config)),
    )
