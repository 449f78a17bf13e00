"""A training run's book-keeping: progress counters, per-epoch logs, and the state it resumes from.

Every file is written atomically: ``history.csv`` (per epoch), ``per_param.csv`` (per epoch and control) and
``last.pt`` (model, optimiser, random states and the book), so an interrupted run continues bit for bit.
"""

from __future__ import annotations

import csv
import dataclasses
import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from mixenv.data.atomic import atomic_path
from mixenv.features import FeatureConfig
from supervised.args import TrainArgs
from supervised.models import MixModel, ModelConfig

STATE_FILE = "last.pt"
STATE_FORMAT = "mixenv-supervised-state"


@dataclass
class Book:
    """Progress of a run: counters, the best epoch, and the logs (everything :func:`train` resumes from)."""

    epoch: int = 0
    steps: int = 0
    seconds: float = 0.0
    best_loss: float = math.inf
    best_epoch: int = 0
    bad_epochs: int = 0
    best_validation: dict[str, Any] = field(default_factory=dict)
    history: list[dict[str, Any]] = field(default_factory=list)
    per_param: list[dict[str, Any]] = field(default_factory=list)

    def record(self, train_loss: float, validation: dict[str, Any], lr: float, improved: bool, weights: str) -> None:
        """Append this epoch's row to the logs (``weights``: the model's
        :func:`~mixenv.fingerprint.weights_digest` after it)."""
        self.history.append(
            {
                "epoch": self.epoch,
                "steps": self.steps,
                "train_loss": train_loss,
                "val_loss": validation["loss"],
                "val_mse": validation["mse"],
                "val_mae": validation["mae"],
                "lr": lr,
                "seconds": round(self.seconds, 2),
                "best": int(improved),
                "weights": weights,
            }
        )
        for name, errors in validation["per_param"].items():
            self.per_param.append({"epoch": self.epoch, "control": name, **errors})


def epoch_column(run: Path, column: str) -> list[str]:
    """One column of a run's ``history.csv``, epoch by epoch (as written)."""
    with open(run / "history.csv", newline="", encoding="utf-8") as file:
        return [row[column] for row in csv.DictReader(file)]


def epoch_weights(run: Path) -> list[str]:
    """Each epoch's weight fingerprint (:func:`mixenv.fingerprint.weights_digest`) in a run's ``history.csv``."""
    return epoch_column(run, "weights")


def write_logs(out: Path, book: Book) -> None:
    for name, rows in (("history.csv", book.history), ("per_param.csv", book.per_param)):
        with atomic_path(out / name) as tmp, open(tmp, "w", newline="", encoding="utf-8") as file:
            columns = list(dict.fromkeys(key for row in rows for key in row))  # a resumed older run lacks some
            writer = csv.DictWriter(file, fieldnames=columns)
            writer.writeheader()
            writer.writerows(rows)


def save_state(
    out: Path,
    args: TrainArgs,
    config: ModelConfig,
    features: FeatureConfig,
    provenance: dict[str, Any],
    model: MixModel,
    optimizer: torch.optim.Optimizer,
    rng: np.random.Generator,
    generator: torch.Generator,
    book: Book,
) -> None:
    payload = {
        "format": STATE_FORMAT,
        "args": jsonable(dataclasses.asdict(args)),
        "model_config": config.to_dict(),
        "features": dataclasses.asdict(features),
        "provenance": provenance,
        "model": model.state_dict(),
        "optimizer": optimizer.state_dict(),
        "torch_rng": torch.get_rng_state(),
        "numpy_rng": json.dumps(rng.bit_generator.state),
        "augment_rng": generator.get_state(),
        "book": dataclasses.asdict(book),
    }
    with atomic_path(out / STATE_FILE) as tmp:
        torch.save(payload, tmp)


def restore(
    state: dict[str, Any],
    model: MixModel,
    optimizer: torch.optim.Optimizer,
    rng: np.random.Generator,
    generator: torch.Generator,
) -> Book:
    """Put a saved run's weights, optimiser and random states back (in place) and return its book."""
    model.load_state_dict(state["model"])
    optimizer.load_state_dict(state["optimizer"])
    torch.set_rng_state(state["torch_rng"])
    rng.bit_generator.state = json.loads(state["numpy_rng"])
    generator.set_state(state["augment_rng"])
    return Book(**state["book"])


def load_state(out: Path) -> dict[str, Any]:
    file = out / STATE_FILE
    if not file.is_file():
        raise FileNotFoundError(f"nothing to resume in {out}: no {STATE_FILE}; drop --resume to start a new run")
    state = torch.load(file, map_location="cpu", weights_only=True)
    if not isinstance(state, dict) or state.get("format") != STATE_FORMAT:
        raise ValueError(f"{file} is not a supervised training state; drop --resume and choose another --out")
    return state


def resumed_args(stored: dict[str, Any], given: TrainArgs) -> TrainArgs:
    """The run's own arguments, with the new ``epochs``, ``stop_after`` and ``progress``.

    A run saved before ``--data-path`` existed stored its folder as ``corpus``; the rest of its arguments take the
    defaults of that time (which are today's).
    """
    values = {**stored}
    path = values.pop("corpus", None) or values.get("data_path")
    values |= {
        "out": Path(stored["out"]) if stored["out"] else given.out,
        "data_path": Path(path) if path else None,
        "augment": tuple(stored["augment"]),
        "remix_rates": tuple(stored.get("remix_rates", ())),
        "more_data": tuple(stored.get("more_data", ())),
    }
    per_call = {"epochs": given.epochs, "stop_after": given.stop_after, "progress": given.progress, "resume": True}
    return TrainArgs(**{**values, **per_call})


def jsonable(values: dict[str, Any]) -> dict[str, Any]:
    return json.loads(json.dumps(values, default=str))
