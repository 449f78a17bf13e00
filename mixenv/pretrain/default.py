"""The default backbone: shipped in the package, and the one recipe that reproduces it.

It is there on a fresh machine (``mixenv/pretrain/default_backbone.pt``, 0.9 MB): :data:`DEFAULT_PRETRAIN` run on
the default synthetic corpus's train split with :data:`THREADS` torch thread (the order of floating-point sums
follows the thread count). Shipped rather than pretrained on first use, it saves four of a first
``gymnasium.make("MixEnv-v0")``'s seven minutes, and every machine observes, scores FAD and trains on the same
weights: pretrained on another CPU, whose kernels round differently in the last bits, 500 steps grow those bits
into other weights (the default model's first epoch trained on such a backbone moved its validation loss by 1.4%),
so the benchmarks' numbers would not carry from one machine to another.

Beside it ships its record (``default_backbone.json``): the recipe, the corpus, the platform it was made on
(:func:`~mixenv.fingerprint.platform`), and at each of :data:`CHECKPOINTS` steps the weights' fingerprint and the
mean contrastive loss of the last twentieth of the steps, so a rerun can be checked whole or by its first
:data:`CHECKPOINTS`\\[0] steps (a sixth of the time), bit for bit on the recorded platform and by the loss to
:data:`LOSS_RTOL` elsewhere:

    python -m mixenv.pretrain                   # pretrain it again (about 4 minutes on 2 cores) and compare
    python -m mixenv.pretrain --stop-after 50   # only its first 50 steps, against the record
    python -m mixenv.pretrain --update          # make the new one the shipped backbone
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

from mixenv import fingerprint
from mixenv.backbone import BackboneCheckpoint, save_backbone
from mixenv.checkpoint import shipped_file
from mixenv.data.atomic import write_json
from mixenv.engines import torch_threads
from mixenv.pretrain.config import DEFAULT_PRETRAIN
from mixenv.pretrain.run import pretrain_on_corpus

SHIPPED = Path(__file__).with_name("default_backbone.pt")
RECORD = SHIPPED.with_suffix(".json")
"""The shipped backbone's record: ``recipe``, ``corpus``, ``threads``, ``platform``, ``steps`` (:data:`CHECKPOINTS`)
and, at each, ``weights`` (:func:`~mixenv.fingerprint.weights_digest`) and ``loss``."""
THREADS = 1
"""Torch threads the default backbone is pretrained with, whatever the calling process set (one thread: the
shipped default model's backbone was pretrained so, and a two-thread build once came out different)."""
CHECKPOINTS = (50, DEFAULT_PRETRAIN.steps)
"""The steps the record fingerprints: a rerun's start, which CI checks, and the whole run."""
LOSS_RTOL = 0.03
"""How far a rerun's loss may stray, relatively, from the record's on a platform with no recorded fingerprints: as
the default model's validation loss (:data:`supervised.default.VAL_LOSS_RTOL`)."""


def shipped_path() -> Path:
    """The shipped default backbone's file.

    Raises:
        FileNotFoundError: If the package was installed without it (the message says how to make it).
    """
    remedy = "make it with `python -m mixenv.pretrain --update`, or pass a backbone of your own (backbone_path=...)"
    return shipped_file(SHIPPED, "the default backbone", remedy)


def shipped_record() -> dict[str, Any]:
    """The shipped backbone's :data:`RECORD`."""
    return json.loads(RECORD.read_text(encoding="utf-8"))


def reproduce(corpus_folder: Path, stop_after: int | None = None, *, progress: bool = True) -> BackboneCheckpoint:
    """Pretrain :data:`DEFAULT_PRETRAIN` on a corpus folder's train split with :data:`THREADS` torch threads, all of
    it (validated on the val split) or its first ``stop_after`` steps (not validated, for time)."""
    with torch_threads(THREADS):
        return pretrain_on_corpus(corpus_folder, DEFAULT_PRETRAIN, stop_after=stop_after, progress=progress)


def _point(checkpoint: BackboneCheckpoint) -> tuple[str, float]:
    """A run's fingerprint and loss (the mean of its last twentieth of steps), as the record keeps them."""
    return fingerprint.weights_digest(checkpoint.module), checkpoint.training["loss_curve"][-1]


def reproduction_problems(checkpoint: BackboneCheckpoint) -> list[str]:
    """What keeps a rerun of the recipe (the whole run or its first :data:`CHECKPOINTS`\\[0] steps) from
    reproducing the shipped record; empty if it does.

    Raises:
        ValueError: For a run of another length, or of another recipe or corpus than the record's.
    """
    record = shipped_record()
    steps = checkpoint.training["steps"]
    if steps not in record["steps"]:
        raise ValueError(f"the record has runs of {record['steps']} steps, not {steps}")
    config = json.loads(json.dumps(checkpoint.training["config"]))  # a start's too is the whole run's schedule
    if config != record["recipe"] or checkpoint.training["corpus"] != record["corpus"]:
        raise ValueError(f"the record is of {record['corpus']} under its recipe; this run is not")
    index = record["steps"].index(steps)
    digest, loss = _point(checkpoint)
    recorded = {"platform": record["platform"], "weights": record["weights"][index:], "loss": record["loss"][index:]}
    trained = {"weights": [digest], "loss": [loss]}
    labels = [f"after {steps} steps"]
    here = fingerprint.platform()
    return fingerprint.reproduction_problems(
        [recorded], trained, here, loss="loss", loss_name="loss", rtol=LOSS_RTOL, labels=labels
    )


def update(whole: BackboneCheckpoint, start: BackboneCheckpoint) -> None:
    """Make ``whole`` (a whole run of the recipe) the shipped backbone, recording it and ``start`` (the same run's
    first :data:`CHECKPOINTS`\\[0] steps), each file written atomically."""
    runs = (start, whole)
    if tuple(c.training["steps"] for c in runs) != CHECKPOINTS:
        raise ValueError(f"update needs runs of {CHECKPOINTS} steps")
    save_backbone(SHIPPED, whole)
    points = [_point(c) for c in runs]
    write_json(
        RECORD,
        {
            "recipe": dataclasses.asdict(DEFAULT_PRETRAIN),
            "corpus": whole.training["corpus"],
            "threads": THREADS,
            "platform": fingerprint.platform(),
            "steps": list(CHECKPOINTS),
            "weights": [digest for digest, _ in points],
            "loss": [loss for _, loss in points],
        },
    )
