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

Under ``torchrun --nproc-per-node N`` the N processes train one model data-parallel (:mod:`supervised.distributed`):
``batch_size`` clips per process and step, so the global batch and the default steps per epoch follow the world
size; rank 0 alone writes the run folder, logs and shows progress.
"""

from __future__ import annotations

import dataclasses
import json
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
from mixenv.fingerprint import weights_digest
from mixenv.params import ParamSpace
from mixenv.pretrain.default import SHIPPED
from supervised.args import TrainArgs, parse_args
from supervised.augment import AugmentConfig, Augmenter
from supervised.checkpoint import MODEL_FILE, LoadedModel, save_model
from supervised.data import Batch, FeatureBank, Remixing, build_bank, check_crop, fixed_batches, random_batch
from supervised.distributed import Objective, World, launched_rank, objective, process_group
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
DEVICE = torch.device("cpu")
"""Training runs on the CPU; under ``torchrun`` the collective backend follows it (gloo)."""

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
    more: Sequence[str | Path] = (),
    remixing: Remixing | None = None,
    progress: bool = True,
) -> TrainingData:
    """Feature banks of a collection's train and val songs (val borrowed from train if it has none).

    Args:
        path: The collection's folder; ``None`` for the default synthetic corpus (built on first use).
        space: The settings layout of the targets.
        features: The log-mel front end.
        source: ``"synthetic"``, ``"musdb18hq"``, ``"medleydb"`` or ``"folder"`` (:func:`mixenv.data.list_songs`).
        more: More collections whose songs join the source's, split as their manifests (or their names' hashes)
            say: a name of :data:`mixenv.artifacts.TRAINING_SETS` (built first if missing), or a corpus folder or a
            folder of song folders.
        remixing: Train on remixes of the stems (needed for sources without ground truth).
        progress: Show progress bars.

    Raises:
        DatasetError: If the folder is not such a collection.
        InputError: If there are too few songs, or they lack settings or references (without remixing).
    """
    root = Path(path) if path is not None else artifacts.corpus()
    folders = [artifacts.training_set(str(m)) if m in artifacts.TRAINING_SETS else Path(m) for m in more]
    songs = list_songs(source, root) + [song for folder in folders for song in list_songs("folder", folder)]
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
        " + ".join([f"{source}:{root}", *(f"folder:{folder}" for folder in folders)]),
    )


def _val_remixing(remixing: Remixing | None) -> Remixing | None:
    """The val songs are remixed like the train songs, from their own seed stream (so never as the same mixes)."""
    return None if remixing is None else dataclasses.replace(remixing, seed=remixing.seed + 10_000)


def train(args: TrainArgs, data: TrainingData | None = None) -> TrainResult:
    """Train as ``args`` say, on ``data`` (default: the corpus's, loaded here); see the module docstring.

    Launched by ``torchrun`` with several processes, every process calls this and they train one model together.

    Raises:
        FileExistsError: If ``args.out`` holds a run and ``args.resume`` is not set.
        FileNotFoundError: For ``args.resume`` without a run to continue, or a missing backbone checkpoint.
        ValueError: For data made with other features than the backbone reads, clips that do not fit, or a run
            resumed by another number of processes than trained it.
    """
    with process_group(DEVICE) as world:
        return _train(args, data, world)


def _train(args: TrainArgs, data: TrainingData | None, world: World) -> TrainResult:
    """:func:`train` as rank ``world.rank`` of ``world.size``: what rank 0 alone reads or decides, it sends."""
    out = world.from_main(
        lambda: args.out or Path("runs") / f"supervised__{args.model}__{args.seed}__{int(time.time())}"
    )
    state = world.from_main(lambda: _state_to_resume(out, args.resume, world.size))
    if state is not None:
        args = resumed_args(state["args"], args)
        backbone, features, provenance = None, FeatureConfig(**state["features"]), state["provenance"]
        config = ModelConfig.from_dict(state["model_config"])
    else:  # rank 0 alone loads the backbone
        backbone, features, provenance = world.from_main(lambda: _initial_backbone(args))
        config = _model_config(args, backbone, features)
    space = ParamSpace(config.roles)
    data = data or load_training_data(
        args.data_path,
        space,
        features,
        source=args.data,
        more=args.more_data,
        remixing=args.remixing(),
        progress=args.progress and world.main,
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
    global_batch = args.batch_size * world.size
    steps_per_epoch = args.steps_per_epoch or math.ceil(data.train.songs / global_batch)
    val_batches = fixed_batches(data.val, crop_frames, args.val_clips, global_batch)
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
        "world_size": world.size,
        **provenance,
        "versions": {
            "mixenv": mixenv.__version__,
            "torch": str(torch.__version__),
            "python": platform.python_version(),
        },
    }
    if world.main:
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
        step_loss = objective(model, args.loss, world)
        total_steps = args.epochs * steps_per_epoch
        bar = tqdm(
            total=total_steps,
            initial=book.steps,
            desc=f"training {args.model}",
            unit="step",
            disable=not (args.progress and world.main),
        )
        try:
            last = args.epochs if args.stop_after is None else min(args.epochs, args.stop_after)
            while book.epoch < last and book.bad_epochs < args.patience:
                world.reseed(generator, args.seed, book.epoch)
                start = time.perf_counter()
                train_loss = _epoch(
                    model,
                    step_loss,
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
                    world,
                )
                validation = _validate(model, val_batches, args.loss, space, world)
                book.epoch += 1
                book.seconds += time.perf_counter() - start
                improved = validation["loss"] < book.best_loss
                if improved:
                    book.best_loss, book.best_epoch, book.bad_epochs = validation["loss"], book.epoch, 0
                    book.best_validation = validation
                    if world.main:
                        training = {**run, "epoch": book.epoch, "validation": validation}
                        save_model(out / MODEL_FILE, LoadedModel(model, features, rate, training))
                else:
                    book.bad_epochs += 1
                book.record(train_loss, validation, optimizer.param_groups[-1]["lr"], improved, weights_digest(model))
                if world.main:
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
    if world.main:
        write_json(out / "training.json", jsonable(dataclasses.asdict(result)))
    return result


def _state_to_resume(out: Path, resume: bool, world_size: int) -> dict[str, Any] | None:
    """The saved state of the run in ``out`` to continue (``None`` for a new run).

    Raises:
        FileExistsError: If ``out`` holds a run and ``resume`` is not set.
        FileNotFoundError: If ``resume`` is set and there is no run to continue.
        ValueError: If the run was trained by another number of processes (its batches and schedule follow it).
    """
    state = load_state(out) if resume else None
    if state is None and (out / STATE_FILE).exists():
        raise FileExistsError(f"{out} already holds a run; pass --resume to continue it or choose another --out")
    if state is not None:
        trained_by = json.loads((out / "config.json").read_text()).get("world_size", 1)
        if trained_by != world_size:
            raise ValueError(
                f"{out} was trained by {trained_by} processes and cannot continue with {world_size}: the global "
                f"batch and the schedule follow the number of processes; resume it with {trained_by} (torchrun)"
            )
    return state


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
        "init_backbone": str(path or SHIPPED),
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
    step_loss: Objective,
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
    world: World,
) -> float:
    """One epoch of optimiser steps on crops of ``crop_frames`` (shortest, longest) frames; the mean training loss.

    Every rank draws the crops of the whole global batch from the shared stream, so the ranks' streams stay in step
    and their shards together are the batch one process draws at the global batch size; it keeps its own shard
    (cropping the others' costs microseconds beside a step).
    """
    model.train()
    size = args.batch_size
    needed = steps * size * world.size
    order = np.concatenate([bank.epoch_order(rng) for _ in range(math.ceil(needed / bank.songs))])
    parameters = [p for group in optimizer.param_groups for p in group["params"]]
    losses = []
    shortest, longest = crop_frames
    for step in range(steps):
        frames = longest if shortest == longest else int(rng.integers(shortest, longest + 1))
        first = step * size * world.size
        shards = [
            random_batch(bank, order[k : k + size], frames, rng) for k in range(first, first + size * world.size, size)
        ]
        batch = shards[world.rank]
        if augmenter is not None:
            batch = augmenter(batch, generator)
        inputs = batch.inputs
        if args.reference_dropout > 0 and rng.random() < args.reference_dropout:
            inputs = inputs._replace(reference=None)
        for group in optimizer.param_groups:
            group["lr"] = group["base_lr"] * _lr_factor(book.steps, total_steps)
        loss, _ = step_loss(inputs, batch.targets, batch.masks)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        nn.utils.clip_grad_norm_(parameters, GRAD_CLIP)
        optimizer.step()
        book.steps += 1
        losses.append(loss.item())
        bar.update(1)
    return world.mean(float(np.mean(losses)))


def _validate(model: MixModel, batches: Sequence[Batch], loss: str, space: ParamSpace, world: World) -> dict[str, Any]:
    """Mean loss, and MSE/MAE overall and per control (over present roles), on fixed clips in eval mode.

    Each rank scores its share of the batches with rank 0's batch-norm statistics (the saved model's); the scores
    are gathered and summed in batch order on every rank, so all ranks get the numbers one process would get for
    that model and agree on the best epoch and on stopping early.
    """
    world.share_buffers(model)
    model.eval()
    with torch.no_grad():
        scored = [(i, *_errors(model, batches[i], loss)) for i in world.shard(range(len(batches)))]
    losses, weights = [], []
    squared, absolute, counts = (torch.zeros(space.size, dtype=torch.float64) for _ in range(3))
    for _, value, weight, batch_squared, batch_absolute, batch_counts in sorted(
        world.gather(scored), key=lambda row: row[0]
    ):
        losses.append(value)
        weights.append(weight)
        squared += batch_squared
        absolute += batch_absolute
        counts += batch_counts
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


def _errors(model: MixModel, batch: Batch, loss: str) -> tuple[float, int, torch.Tensor, torch.Tensor, torch.Tensor]:
    """A validation batch's loss and size, and its squared and absolute errors and target counts per control."""
    value, predictions = model.training_loss(batch.inputs, batch.targets, batch.masks, loss)
    errors = (predictions - batch.targets).double() * batch.masks
    return (
        value.item(),
        len(batch.targets),
        (errors**2).sum(dim=0),
        errors.abs().sum(dim=0),
        batch.masks.double().sum(dim=0),
    )


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``python -m supervised.train``."""
    args = parse_args(argv)
    main_rank = launched_rank() == 0
    logging.basicConfig(level=logging.INFO if main_rank else logging.ERROR, format="supervised: %(message)s")
    try:
        result = train(args)
    except (DatasetError, InputError, ValueError, FileNotFoundError, FileExistsError) as err:
        print(f"supervised.train: error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("supervised.train: interrupted; continue the run with --resume (nothing half-written)", file=sys.stderr)
        return 130
    if not main_rank:
        return 0
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
