"""``python -m supervised.train``: fit a model to the corpus's ground-truth mix settings.

Data: every song of the corpus's train and val splits becomes log-mels once (:mod:`supervised.data`; a corpus
without val songs lends the last fifth of its train songs). Each step draws ``batch_size`` songs (every song once
per epoch) and a random clip of ``clip_seconds`` of each, stems and reference aligned, augments it
(:mod:`supervised.augment`) and, with probability ``reference_dropout``, hides the reference from the whole batch
so the model also learns to mix reference-free. Loss: MSE (or Smooth-L1) on the normalised settings, masked for
the controls of absent roles. AdamW with linear warm-up and cosine decay over ``epochs``; a pretrained backbone
learns at ``backbone_lr_scale`` times the head's rate, a frozen one not at all.

After every epoch: validation on fixed clips of the val songs (loss, MSE and MAE per control); the best model so
far goes to ``model.pt`` (weights and exact configuration, :mod:`supervised.checkpoint`); everything needed to
continue goes to ``last.pt``; training stops early after ``patience`` epochs without improvement. The run folder
also holds ``config.json``, ``history.csv`` (per epoch), ``per_param.csv`` (per epoch and control) and
``training.json`` (the summary). Every file is written atomically; an interrupted run continues with ``--resume``.

Same seed, same data, same number of torch threads: bit-identical weights, with or without an interruption.
"""

from __future__ import annotations

import dataclasses
import logging
import math
import platform
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn
from tqdm.auto import tqdm

import mixenv
from mixenv import artifacts
from mixenv.data import DatasetError, list_songs
from mixenv.data.atomic import write_json
from mixenv.features import FeatureConfig
from mixenv.params import ParamSpace
from supervised.args import TrainArgs, parse_args
from supervised.augment import AugmentConfig, Augmenter
from supervised.checkpoint import MODEL_FILE, LoadedModel, save_model
from supervised.data import Batch, FeatureBank, Remixing, build_bank, check_crop, fixed_batches, random_batch
from supervised.inputs import InputError
from supervised.models import PRESETS, MixModel, ModelConfig, build_model, preset
from supervised.run_state import (
    STATE_FILE,
    Book,
    jsonable,
    load_state,
    restore,
    resumed_args,
    save_state,
    write_logs,
)

VAL_FRACTION = 0.2
"""Share of the train songs held out for validation when a corpus has no val split."""
WARMUP_FRACTION = 0.05
GRAD_CLIP = 1.0
_BATCH_STREAM = 1
"""Batches, crops and reference dropout draw from ``default_rng([seed, _BATCH_STREAM])``."""

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class TrainingData:
    """Train and val feature banks, the log-mel configuration they were made with, and where they came from."""

    train: FeatureBank
    val: FeatureBank
    features: FeatureConfig
    source: str


@dataclass(frozen=True)
class TrainResult:
    """What a run did.

    Attributes:
        out: The run folder.
        best_epoch: Epoch of the saved model (1-based).
        epochs: Epochs run in total.
        steps: Optimiser steps in total.
        seconds: Training wall time in total (validation included, data preparation not).
        validation: The best epoch's validation numbers (``loss``, ``mse``, ``mae``, ``per_param``).
        stopped_early: Whether patience ran out before ``epochs``.
    """

    out: Path
    best_epoch: int
    epochs: int
    steps: int
    seconds: float
    validation: dict[str, Any]
    stopped_early: bool


def load_training_data(
    path: str | Path | None,
    space: ParamSpace,
    features: FeatureConfig,
    *,
    source: str = "synthetic",
    remixing: Remixing | None = None,
    progress: bool = True,
) -> TrainingData:
    """Feature banks of a collection's train and val songs (val borrowed from train if it has none).

    Args:
        path: The collection's folder; ``None`` for the default synthetic corpus (built on first use).
        space: The settings layout of the targets.
        features: The log-mel front end.
        source: ``"synthetic"``, ``"musdb18hq"``, ``"medleydb"`` or ``"folder"`` (:func:`mixenv.data.list_songs`).
        remixing: Train on remixes of the stems (needed for sources without ground truth).
        progress: Show progress bars.

    Raises:
        DatasetError: If the folder is not such a collection.
        InputError: If there are too few songs, or they lack settings or references (without remixing).
    """
    root = Path(path) if path is not None else artifacts.corpus()
    songs = list_songs(source, root)
    train_songs = [s for s in songs if s.split == "train"]
    val_songs = [s for s in songs if s.split == "val"]
    if not val_songs:
        n = max(1, round(VAL_FRACTION * len(train_songs)))
        if len(train_songs) <= n:
            raise InputError(f"{root} has {len(train_songs)} train songs and no val songs; it needs at least 2")
        log.warning("%s has no val split; validating on its last %d train songs", root, n)
        train_songs, val_songs = train_songs[:-n], train_songs[-n:]
    return TrainingData(
        build_bank(train_songs, space, features, remixing=remixing, progress=progress, desc="train songs"),
        build_bank(val_songs, space, features, remixing=_val_remixing(remixing), progress=progress, desc="val songs"),
        features,
        f"{source}:{root}",
    )


def _val_remixing(remixing: Remixing | None) -> Remixing | None:
    """The val songs are remixed like the train songs, from their own seed stream (so never as the same mixes)."""
    return None if remixing is None else dataclasses.replace(remixing, seed=remixing.seed + 10_000)


def train(args: TrainArgs, data: TrainingData | None = None) -> TrainResult:
    """Train as ``args`` say, on ``data`` (default: the corpus's, loaded here); see the module docstring.

    Raises:
        FileExistsError: If ``args.out`` holds a run and ``args.resume`` is not set.
        FileNotFoundError: For ``args.resume`` without a run to continue, or a missing backbone checkpoint.
        ValueError: For data made with other features than the backbone reads, or clips that do not fit.
    """
    out = args.out or Path("runs") / f"supervised__{args.model}__{args.seed}__{int(time.time())}"
    state = load_state(out) if args.resume else None
    if state is None and (out / STATE_FILE).exists():
        raise FileExistsError(f"{out} already holds a run; pass --resume to continue it or choose another --out")
    if state is not None:
        args = resumed_args(state["args"], args)
        backbone, features, provenance = None, FeatureConfig(**state["features"]), state["provenance"]
        config = ModelConfig.from_dict(state["model_config"])
    else:
        backbone, features, provenance = _initial_backbone(args)
        config = _model_config(args, backbone, features)
    space = ParamSpace(config.roles)
    data = data or load_training_data(
        args.data_path, space, features, source=args.data, remixing=args.remixing(), progress=args.progress
    )
    if data.features != features:
        raise ValueError(
            f"the training data's log-mels ({data.features}) are not the ones the backbone reads ({features}); "
            "build the data with the backbone's FeatureConfig"
        )
    rate = data.train.sample_rate
    crop_frames = features.num_frames(round(args.clip_seconds * rate), rate)
    shortest = features.num_frames(round((args.min_clip_seconds or args.clip_seconds) * rate), rate)
    check_crop(data.train, crop_frames)
    check_crop(data.val, crop_frames)
    steps_per_epoch = args.steps_per_epoch or math.ceil(data.train.songs / args.batch_size)
    val_batches = fixed_batches(data.val, crop_frames, args.val_clips, args.batch_size)
    augmenter = Augmenter(AugmentConfig(args.augment), space, features) if args.augment else None
    run = {
        "args": jsonable(dataclasses.asdict(args)),
        "model_config": config.to_dict(),
        "features": dataclasses.asdict(features),
        "sample_rate": rate,
        "data": data.source,
        "train_songs": data.train.songs,
        "train_examples": len(data.train),
        "val_songs": data.val.songs,
        "crop_frames": crop_frames,
        "steps_per_epoch": steps_per_epoch,
        **provenance,
        "versions": {
            "mixenv": mixenv.__version__,
            "torch": str(torch.__version__),
            "python": platform.python_version(),
        },
    }
    out.mkdir(parents=True, exist_ok=True)
    write_json(out / "config.json", run)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(args.seed)
        model = build_model(config, backbone)
        model.freeze_backbone(args.freeze_backbone)
        optimizer = _optimizer(model, args, bool(provenance["pretrained"]))
        rng = np.random.default_rng([args.seed, _BATCH_STREAM])
        generator = torch.Generator().manual_seed(args.seed)
        book = Book() if state is None else restore(state, model, optimizer, rng, generator)
        total_steps = args.epochs * steps_per_epoch
        bar = tqdm(
            total=total_steps, initial=book.steps, desc=f"training {args.model}", unit="step", disable=not args.progress
        )
        try:
            while book.epoch < args.epochs and book.bad_epochs < args.patience:
                start = time.perf_counter()
                train_loss = _epoch(
                    model,
                    optimizer,
                    data.train,
                    args,
                    (shortest, crop_frames),
                    steps_per_epoch,
                    book,
                    total_steps,
                    rng,
                    generator,
                    augmenter,
                    bar,
                )
                validation = _validate(model, val_batches, args.loss, space)
                book.epoch += 1
                book.seconds += time.perf_counter() - start
                improved = validation["loss"] < book.best_loss
                if improved:
                    book.best_loss, book.best_epoch, book.bad_epochs = validation["loss"], book.epoch, 0
                    book.best_validation = validation
                    training = {**run, "epoch": book.epoch, "validation": validation}
                    save_model(out / MODEL_FILE, LoadedModel(model, features, rate, training))
                else:
                    book.bad_epochs += 1
                book.record(train_loss, validation, optimizer.param_groups[-1]["lr"], improved)
                write_logs(out, book)
                save_state(out, args, config, features, provenance, model, optimizer, rng, generator, book)
                bar.set_postfix(
                    epoch=book.epoch, train=f"{train_loss:.4f}", val=f"{validation['loss']:.4f}", refresh=False
                )
        finally:
            bar.close()
    stopped_early = book.bad_epochs >= args.patience
    result = TrainResult(
        out, book.best_epoch, book.epoch, book.steps, book.seconds, book.best_validation, stopped_early
    )
    write_json(out / "training.json", jsonable(dataclasses.asdict(result)))
    return result


def _initial_backbone(args: TrainArgs) -> tuple[nn.Module | None, FeatureConfig, dict[str, Any]]:
    """The backbone to start from (``None``: a fresh one), the features it reads, and where it came from."""
    if PRESETS[args.model].backbone == "patch":
        if args.init_backbone not in ("default", "none"):
            raise ValueError(
                f"the patch model has no pretrained weights (mixenv.pretrain trains the convolutional backbone), so "
                f"--init-backbone {args.init_backbone} cannot apply; drop it or pass --init-backbone none"
            )
        note = "the patch transformer has no pretrained weights: trained from scratch"
        return None, FeatureConfig(), {"init_backbone": "none", "pretrained": False, "note": note}
    if args.init_backbone == "none":
        return None, FeatureConfig(), {"init_backbone": "none", "pretrained": False}
    path = None if args.init_backbone == "default" else args.init_backbone
    checkpoint = artifacts.backbone(path)
    recipe = {key: checkpoint.training.get(key) for key in ("objective", "recipe_version", "steps", "seed", "corpus")}
    provenance = {
        "init_backbone": str(path or artifacts.backbone_path()),
        "pretrained": True,
        "backbone_training": recipe,
    }
    return checkpoint.module, checkpoint.features, provenance


def _model_config(args: TrainArgs, backbone: nn.Module | None, features: FeatureConfig) -> ModelConfig:
    changes = {name: getattr(args, name) for name in ("width", "depth", "dropout", "kernel_size", "heads")}
    changes |= {"latent_dim": args.latent_dim, "beta": args.beta, "free_bits": args.free_bits}
    changes["reference_match"] = not args.no_reference_match
    changes["floor_db"] = features.floor_db
    if backbone is not None:
        changes["conv"] = backbone.config
    return preset(args.model, **changes)


def _optimizer(model: MixModel, args: TrainArgs, pretrained: bool) -> torch.optim.Optimizer:
    """AdamW with the backbone (unless frozen) in its own group; each group keeps its peak rate as ``base_lr``."""
    backbone_ids = {id(p) for p in model.backbone.parameters()}
    head = [p for p in model.parameters() if id(p) not in backbone_ids]
    groups = [{"params": head, "base_lr": args.lr}]
    if not args.freeze_backbone:
        scale = args.backbone_lr_scale if pretrained else 1.0
        groups.insert(0, {"params": list(model.backbone.parameters()), "base_lr": args.lr * scale})
    for group in groups:
        group["lr"] = group["base_lr"]
    return torch.optim.AdamW(groups, weight_decay=args.weight_decay)


def _lr_factor(step: int, total: int) -> float:
    """Linear warm-up over the first 5% of the steps, then cosine decay to zero."""
    warmup = max(1, round(WARMUP_FRACTION * total))
    if step < warmup:
        return (step + 1) / warmup
    return 0.5 * (1.0 + math.cos(math.pi * min(1.0, (step - warmup) / max(1, total - warmup))))


def _epoch(
    model: MixModel,
    optimizer: torch.optim.Optimizer,
    bank: FeatureBank,
    args: TrainArgs,
    crop_frames: tuple[int, int],
    steps: int,
    book: Book,
    total_steps: int,
    rng: np.random.Generator,
    generator: torch.Generator,
    augmenter: Augmenter | None,
    bar: tqdm,
) -> float:
    """One epoch of optimiser steps on crops of ``crop_frames`` (shortest, longest) frames; the mean training loss."""
    model.train()
    needed = steps * args.batch_size
    order = np.concatenate([bank.epoch_order(rng) for _ in range(math.ceil(needed / bank.songs))])
    parameters = [p for group in optimizer.param_groups for p in group["params"]]
    losses = []
    shortest, longest = crop_frames
    for step in range(steps):
        frames = longest if shortest == longest else int(rng.integers(shortest, longest + 1))
        batch = random_batch(bank, order[step * args.batch_size : (step + 1) * args.batch_size], frames, rng)
        if augmenter is not None:
            batch = augmenter(batch, generator)
        inputs = batch.inputs
        if args.reference_dropout > 0 and rng.random() < args.reference_dropout:
            inputs = inputs._replace(reference=None)
        for group in optimizer.param_groups:
            group["lr"] = group["base_lr"] * _lr_factor(book.steps, total_steps)
        loss, _ = model.training_loss(inputs, batch.targets, batch.masks, args.loss)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        nn.utils.clip_grad_norm_(parameters, GRAD_CLIP)
        optimizer.step()
        book.steps += 1
        losses.append(loss.item())
        bar.update(1)
    return float(np.mean(losses))


def _validate(model: MixModel, batches: Sequence[Batch], loss: str, space: ParamSpace) -> dict[str, Any]:
    """Mean loss, and MSE/MAE overall and per control (over present roles), on fixed clips in eval mode."""
    model.eval()
    losses, weights = [], []
    squared, absolute, counts = (torch.zeros(space.size, dtype=torch.float64) for _ in range(3))
    with torch.no_grad():
        for batch in batches:
            value, predictions = model.training_loss(batch.inputs, batch.targets, batch.masks, loss)
            losses.append(value.item())
            weights.append(len(batch.targets))
            errors = (predictions - batch.targets).double() * batch.masks
            squared += (errors**2).sum(dim=0)
            absolute += errors.abs().sum(dim=0)
            counts += batch.masks.double().sum(dim=0)
    seen = counts > 0
    per_param = {
        name: {"mse": float(squared[i] / counts[i]), "mae": float(absolute[i] / counts[i])}
        for i, name in enumerate(space.names)
        if seen[i]
    }
    return {
        "loss": float(np.average(losses, weights=weights)),
        "mse": float(squared.sum() / counts.sum()),
        "mae": float(absolute.sum() / counts.sum()),
        "per_param": per_param,
    }


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``python -m supervised.train``."""
    args = parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="supervised: %(message)s")
    try:
        result = train(args)
    except (DatasetError, InputError, ValueError, FileNotFoundError, FileExistsError) as err:
        print(f"supervised.train: error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("supervised.train: interrupted; continue the run with --resume (nothing half-written)", file=sys.stderr)
        return 130
    v = result.validation
    print(
        f"trained {args.model} for {result.epochs} epochs ({result.steps} steps, {result.seconds:.0f} s); best epoch "
        f"{result.best_epoch}: val loss {v['loss']:.4f}, MAE {v['mae']:.4f}, MSE {v['mse']:.4f}"
        + (" (stopped early)" if result.stopped_early else "")
    )
    print(f"model, config and logs in {result.out}; evaluate with python -m supervised.evaluate --model {result.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
