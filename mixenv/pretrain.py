"""Self-supervised pretraining of the shared backbone on mix style, and the default backbone made on first use.

The embedding feeds a FAD reward, an anomaly detector and models that predict mix settings, so it must encode
the *mix* (balance, EQ, dynamics, loudness), not the song. Plain song-identity contrastive learning would learn
the opposite. We follow DeepAFx-ST (Steinmetz et al., 2022) instead: every training song is rendered under
several settings (its ground truth, perturbations of it and a few random ones); two time crops of the *same
rendered mix* form a positive pair and every other crop in the batch is a negative, deliberately including the
other mixes of the same song at the same time positions (identical notes, different mix). NT-Xent on a small
projection head (discarded afterwards, as in SimCLR) then only pays off for features of the mix.

Validation, on held-out songs rendered the same way: top-1 retrieval (is the nearest other crop, by cosine
similarity of the clip embedding, the other crop of the same mix?) and a ridge probe predicting the normalised
settings from clip embeddings (R²), each for the trained backbone and for the untrained one with the same seed.
Both go into the checkpoint's ``training`` metadata.

Run ``python -m mixenv.pretrain --help``; :func:`ensure_backbone` builds the default backbone on first use.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import copy
import functools
import logging
import math
import os
import sys
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from tqdm.auto import tqdm

from mixenv.backbone import Backbone, BackboneCheckpoint, BackboneConfig, load_backbone, save_backbone
from mixenv.data.songref import DatasetError, SongRef
from mixenv.data.synth.corpus import CorpusConfig, corpus_songs, data_root, ensure_corpus
from mixenv.features import FeatureConfig, LogMel
from mixenv.params import MixSettings, ParamSpace
from mixenv.render import Renderer

PRETRAIN_VERSION = 1
"""Bump when the recipe changes, so a cached default backbone of the old recipe is not reused."""
OBJECTIVE = "mix-style NT-Xent (DeepAFx-ST style): positives = two crops of one mix, negatives include other mixes"

_RENDER_STREAM, _VAL_STREAM, _BATCH_STREAM, _PROBE_STREAM = range(4)
"""Independent random streams, all derived from the config's seed: ``default_rng([seed, stream, ...])``."""
_EMBED_CHUNK = 128
_LOSS_CURVE_POINTS = 20

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class PretrainConfig:
    """How to pretrain (the defaults take about 3 minutes on 2 CPU cores for the default corpus).

    Attributes:
        steps: Optimiser steps.
        batch_songs: Songs per batch (capped at the number of songs).
        batch_mixes: Mixes of each song per batch; the other mixes of a song are its hardest negatives.
        mixes_per_song: Mixes rendered per song: the ground truth, perturbations of it, ``random_mixes`` random ones.
        random_mixes: Of those, mixes with uniformly random settings (wide coverage of the settings space).
        perturb_sigma: Range of the per-mix noise scale on the normalised ground truth, drawn uniformly.
        crop_seconds: Length of each crop; validation crops have the same length.
        lr: Peak learning rate of AdamW (linear warm-up, then cosine decay to zero).
        weight_decay: AdamW weight decay.
        warmup_fraction: Share of the steps spent warming up.
        temperature: NT-Xent temperature.
        projection_dim: Output size of the projection head.
        grad_clip: Maximum gradient norm.
        probe_alpha: Ridge penalty of the settings probe, on standardised embeddings.
        render_workers: Threads rendering mixes (pedalboard releases the GIL).
        seed: Seeds everything: initial weights, dropout, mixes, batches, crops.
    """

    steps: int = 500
    batch_songs: int = 8
    batch_mixes: int = 4
    mixes_per_song: int = 6
    random_mixes: int = 1
    perturb_sigma: tuple[float, float] = (0.1, 0.8)
    crop_seconds: float = 2.0
    lr: float = 2e-3
    weight_decay: float = 1e-4
    warmup_fraction: float = 0.05
    temperature: float = 0.1
    projection_dim: int = 64
    grad_clip: float = 1.0
    probe_alpha: float = 10.0
    render_workers: int = 2
    seed: int = 0

    def __post_init__(self) -> None:
        if self.steps < 1:
            raise ValueError(f"steps must be at least 1, got {self.steps}")
        if self.batch_songs < 1:
            raise ValueError(f"batch_songs must be at least 1, got {self.batch_songs}")
        if not 1 <= self.random_mixes + 1 <= self.mixes_per_song:
            raise ValueError(
                f"mixes_per_song={self.mixes_per_song} must hold the ground truth and random_mixes={self.random_mixes}"
            )
        if not 1 <= self.batch_mixes <= self.mixes_per_song:
            raise ValueError(
                f"batch_mixes must be within [1, mixes_per_song={self.mixes_per_song}], got {self.batch_mixes}"
            )
        if not 0.0 <= self.perturb_sigma[0] <= self.perturb_sigma[1]:
            raise ValueError(f"perturb_sigma must be (low, high) with 0 <= low <= high, got {self.perturb_sigma}")
        if self.crop_seconds <= 0 or self.temperature <= 0 or self.lr <= 0:
            raise ValueError(
                f"crop_seconds, temperature and lr must be positive, got {self.crop_seconds}, {self.temperature}, "
                f"{self.lr}"
            )
        if self.render_workers < 1:
            raise ValueError(f"render_workers must be at least 1, got {self.render_workers}")


DEFAULT_CORPUS = CorpusConfig()
"""The corpus the default backbone is trained on (its train split; validated on its val split)."""
DEFAULT_PRETRAIN = PretrainConfig()
"""The recipe of the default backbone."""


@dataclass(frozen=True)
class _MixBank:
    """Log-mels of several rendered mixes per song, and the normalised settings that made them.

    Attributes:
        logmels: Per song, ``(mixes, 2, n_mels, frames)`` float16 (half the memory; crops are cast back).
        targets: Per song, ``(mixes, n_params)`` float32 normalised settings.
        sample_rate: Rate of every song.
    """

    logmels: list[torch.Tensor]
    targets: list[np.ndarray]
    sample_rate: int


def pretrain_backbone(
    songs: Sequence[SongRef],
    config: PretrainConfig | None = None,
    *,
    val_songs: Sequence[SongRef] = (),
    backbone_config: BackboneConfig | None = None,
    features: FeatureConfig | None = None,
    progress: bool = True,
) -> BackboneCheckpoint:
    """Train a backbone on mix style over ``songs`` and validate it on ``val_songs``.

    Same songs, same config: bit-identical weights (at a fixed number of torch threads). Global random state is
    left as it was.

    Args:
        songs: Training songs, all at one sample rate, at least twice ``crop_seconds`` long.
        config: The recipe; defaults to :class:`PretrainConfig`.
        val_songs: Held-out songs for the validation numbers; none: no validation.
        backbone_config: Architecture; defaults to :class:`~mixenv.backbone.BackboneConfig`.
        features: Log-mel front end; defaults to :class:`~mixenv.features.FeatureConfig`.
        progress: Show progress bars.

    Returns:
        The trained backbone in eval mode, its features, sample rate and ``training`` metadata (steps, seconds,
        seed, corpus folder, config, loss curve and, with ``val_songs``, the ``validation`` numbers).

    Raises:
        ValueError: For no songs, mixed sample rates, songs shorter than two crops, or a backbone whose ``n_mels``
            differs from the features'.
    """
    config = config or PretrainConfig()
    backbone_config = backbone_config or BackboneConfig()
    features = features or FeatureConfig()
    if not songs:
        raise ValueError("pretraining needs at least one training song; pass the train split of a corpus")
    if backbone_config.n_mels != features.n_mels:
        raise ValueError(
            f"backbone expects n_mels={backbone_config.n_mels} but the features give {features.n_mels}; make them equal"
        )
    start = time.perf_counter()
    bank = _render_bank(songs, config, features, _RENDER_STREAM, progress, "rendering train mixes")
    val_bank = _render_bank(val_songs, config, features, _VAL_STREAM, progress, "rendering val mixes")
    if val_bank is not None and val_bank.sample_rate != bank.sample_rate:
        raise ValueError(f"val songs are at {val_bank.sample_rate} Hz but train songs at {bank.sample_rate} Hz")
    crop_frames = max(
        BackboneConfig.TIME_STRIDE,
        round(config.crop_seconds * bank.sample_rate / features.hop_length(bank.sample_rate)),
    )
    _check_lengths(bank, songs, crop_frames)
    if val_bank is not None:
        _check_lengths(val_bank, val_songs, crop_frames)
    log.info(
        "rendered %d mixes per song of %d songs in %.0f s",
        config.mixes_per_song,
        len(songs) + len(val_songs),
        time.perf_counter() - start,
    )
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(config.seed)
        backbone = Backbone(backbone_config)
        untrained = copy.deepcopy(backbone).eval()
        losses = _train(backbone, bank, config, crop_frames, progress)
    log.info("trained %d steps, %.0f s since the start", config.steps, time.perf_counter() - start)
    backbone.eval()
    training: dict[str, Any] = {
        "objective": OBJECTIVE,
        "recipe_version": PRETRAIN_VERSION,
        "steps": config.steps,
        "seed": config.seed,
        "corpus": songs[0].path.parent.name,
        "train_songs": len(songs),
        "val_songs": len(val_songs),
        "config": asdict(config),
        "loss_curve": _loss_curve(losses),
    }
    if val_bank is not None:
        training["validation"] = _validate(backbone, untrained, bank, val_bank, config, crop_frames)
    training["seconds"] = round(time.perf_counter() - start, 1)
    return BackboneCheckpoint(backbone, features, bank.sample_rate, training)


def default_backbone_path() -> Path:
    """Where the default backbone lives: ``data_root()/backbones/backbone-v<recipe>-<default corpus folder>.pt``."""
    return _backbone_path(DEFAULT_CORPUS.folder_name())


def ensure_backbone(path: str | os.PathLike[str] | None = None) -> BackboneCheckpoint:
    """The backbone to use: a user's own checkpoint, or the default one, pretrained first if not there yet.

    Args:
        path: A checkpoint written by :func:`~mixenv.backbone.save_backbone`; ``None`` for the default backbone
            (:func:`default_backbone_path`), which on first use is pretrained on the default corpus's train split
            (building the corpus too if needed, a few minutes on CPU) and saved atomically.

    Raises:
        FileNotFoundError: If ``path`` is given and does not exist.
        ValueError: If the file is not a backbone checkpoint this mixenv reads.
    """
    if path is not None:
        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(
                f"backbone checkpoint {path} does not exist; write one with `python -m mixenv.pretrain --out {path}`, "
                "or pass no path to use the default backbone (pretrained on first use)"
            )
        return load_backbone(path)
    target = default_backbone_path()
    if target.is_file():
        return load_backbone(target)
    log.warning("building the default backbone (first use, a few minutes on CPU) into %s", target)
    corpus = ensure_corpus(DEFAULT_CORPUS)
    checkpoint = pretrain_backbone(
        corpus_songs(corpus, "train"), DEFAULT_PRETRAIN, val_songs=corpus_songs(corpus, "val")
    )
    save_backbone(target, checkpoint.backbone, checkpoint.features, checkpoint.sample_rate, checkpoint.training)
    return checkpoint


def _backbone_path(corpus_name: str) -> Path:
    return data_root() / "backbones" / f"backbone-v{PRETRAIN_VERSION}-{corpus_name}.pt"


def _render_bank(
    songs: Sequence[SongRef], config: PretrainConfig, features: FeatureConfig, stream: int, progress: bool, desc: str
) -> _MixBank | None:
    """Render ``mixes_per_song`` mixes of every song and keep their log-mels (``None`` for no songs).

    Song ``i`` draws its settings from ``default_rng([seed, stream, i])``, so the result does not depend on the
    order in which the threads finish.
    """
    if not songs:
        return None
    space = ParamSpace()

    def render(index: int) -> tuple[torch.Tensor, np.ndarray, int]:
        song = songs[index].load()
        settings = _mix_settings(song.settings, space, config, np.random.default_rng([config.seed, stream, index]))
        renderer = Renderer(song.sample_rate)
        mixes = np.stack([renderer.render(song.stems, s).mix for s in settings])
        with torch.inference_mode():
            logmel = LogMel(song.sample_rate, features)(torch.from_numpy(mixes)).half()
        return logmel, np.stack([s.normalized() for s in settings]), song.sample_rate

    pool = concurrent.futures.ThreadPoolExecutor(config.render_workers)
    try:
        with tqdm(total=len(songs), desc=desc, unit="song", disable=not progress) as bar:
            results = []
            for result in pool.map(render, range(len(songs))):
                results.append(result)
                bar.update(1)
    finally:  # on an interrupt, drop the queued songs instead of rendering them all first
        pool.shutdown(wait=True, cancel_futures=True)
    rates = sorted({rate for _, _, rate in results})
    if len(rates) != 1:
        raise ValueError(f"pretraining songs must share one sample rate, got {rates} Hz; resample them when loading")
    return _MixBank([r[0] for r in results], [r[1] for r in results], rates[0])


def _mix_settings(
    center: MixSettings | None, space: ParamSpace, config: PretrainConfig, rng: np.random.Generator
) -> list[MixSettings]:
    """The ground truth (or neutral, for songs without one), perturbations of it, and uniformly random settings."""
    if center is not None and center.space != space:
        raise ValueError(f"song settings cover roles {center.space.roles}; pretraining expects {space.roles}")
    base = center.normalized() if center is not None else space.neutral_vector()
    perturbed = config.mixes_per_song - 1 - config.random_mixes
    sigmas = rng.uniform(*config.perturb_sigma, size=(perturbed, 1))
    vectors = [base, *(base + sigmas * rng.standard_normal((perturbed, space.size)))]
    vectors += list(rng.uniform(-1.0, 1.0, size=(config.random_mixes, space.size)))
    return [space.to_physical(np.clip(v, -1.0, 1.0)) for v in vectors]


def _check_lengths(bank: _MixBank, songs: Sequence[SongRef], crop_frames: int) -> None:
    for song, logmel in zip(songs, bank.logmels, strict=True):
        if logmel.shape[-1] < 2 * crop_frames:
            raise ValueError(
                f"song {song.name!r} has {logmel.shape[-1]} log-mel frames, fewer than two crops of {crop_frames}; "
                "use longer songs or a shorter crop_seconds"
            )


def _projection_head(embedding_dim: int, projection_dim: int) -> nn.Module:
    """The SimCLR head: the loss acts on its output, the backbone's embedding keeps more of the signal."""
    return nn.Sequential(nn.Linear(embedding_dim, embedding_dim), nn.GELU(), nn.Linear(embedding_dim, projection_dim))


def _train(backbone: Backbone, bank: _MixBank, config: PretrainConfig, crop_frames: int, progress: bool) -> list[float]:
    """Optimise ``backbone`` in place (with a throwaway head); returns the loss of every step."""
    head = _projection_head(backbone.embedding_dim, config.projection_dim)
    backbone.train()
    head.train()
    parameters = [*backbone.parameters(), *head.parameters()]
    optimizer = torch.optim.AdamW(parameters, lr=config.lr, weight_decay=config.weight_decay)
    warmup = max(1, round(config.warmup_fraction * config.steps))
    schedule = torch.optim.lr_scheduler.LambdaLR(
        optimizer, functools.partial(_lr_factor, warmup=warmup, total=config.steps)
    )
    rng = np.random.default_rng([config.seed, _BATCH_STREAM])
    losses = []
    with tqdm(range(config.steps), desc="pretraining backbone", unit="step", disable=not progress) as bar:
        for _ in bar:
            view_a, view_b = _batch(bank, config, crop_frames, rng)
            loss = _nt_xent(head(backbone(view_a).embedding), head(backbone(view_b).embedding), config.temperature)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            nn.utils.clip_grad_norm_(parameters, config.grad_clip)
            optimizer.step()
            schedule.step()
            losses.append(loss.item())
            bar.set_postfix(loss=f"{losses[-1]:.3f}", refresh=False)
    return losses


def _lr_factor(step: int, warmup: int, total: int) -> float:
    """Linear warm-up to the peak learning rate, then cosine decay to zero."""
    if step < warmup:
        return (step + 1) / warmup
    return 0.5 * (1.0 + math.cos(math.pi * (step - warmup) / max(1, total - warmup)))


def _batch(
    bank: _MixBank, config: PretrainConfig, crop_frames: int, rng: np.random.Generator
) -> tuple[torch.Tensor, torch.Tensor]:
    """Two views ``(batch, 2, n_mels, crop_frames)``: row ``i`` of each is a crop of the same mix.

    Within a song both crop positions are shared by all its mixes, so its other mixes are negatives with the very
    same notes: only the mix tells them apart.
    """
    views_a, views_b = [], []
    for song in rng.choice(len(bank.logmels), min(config.batch_songs, len(bank.logmels)), replace=False):
        logmel = bank.logmels[song]
        mixes = torch.as_tensor(rng.choice(logmel.shape[0], config.batch_mixes, replace=False))
        a, b = rng.integers(0, logmel.shape[-1] - crop_frames + 1, size=2)
        views_a.append(logmel[mixes, ..., a : a + crop_frames])
        views_b.append(logmel[mixes, ..., b : b + crop_frames])
    return torch.cat(views_a).float(), torch.cat(views_b).float()


def _nt_xent(z_a: torch.Tensor, z_b: torch.Tensor, temperature: float) -> torch.Tensor:
    """NT-Xent (SimCLR): each of the ``2 * batch`` projections must pick its partner among all the others."""
    z = F.normalize(torch.cat([z_a, z_b]), dim=1)
    n = z_a.shape[0]
    logits = (z @ z.T / temperature).masked_fill(torch.eye(2 * n, dtype=torch.bool), float("-inf"))
    partners = torch.cat([torch.arange(n, 2 * n), torch.arange(n)])
    return F.cross_entropy(logits, partners)


def _loss_curve(losses: Sequence[float]) -> list[float]:
    """Mean loss over (at most) 20 consecutive, equal-as-possible chunks of the steps."""
    chunks = np.array_split(np.asarray(losses), min(_LOSS_CURVE_POINTS, len(losses)))
    return [round(float(chunk.mean()), 4) for chunk in chunks]


def _validate(
    backbone: Backbone,
    untrained: Backbone,
    bank: _MixBank,
    val_bank: _MixBank,
    config: PretrainConfig,
    crop_frames: int,
) -> dict[str, Any]:
    """Retrieval accuracy on ``val_bank`` and settings-probe R² (fit on ``bank``), trained vs untrained."""
    view_a, view_b, val_targets = _val_crops(val_bank, crop_frames, np.random.default_rng([config.seed, _VAL_STREAM]))
    probe_crops, probe_targets = _probe_crops(bank, crop_frames, np.random.default_rng([config.seed, _PROBE_STREAM]))
    val_crops = torch.cat([view_a, view_b])
    val_targets = np.concatenate([val_targets, val_targets])
    numbers: dict[str, Any] = {
        "songs": len(val_bank.logmels),
        "mixes_per_song": config.mixes_per_song,
        "crops": len(val_crops),
        "retrieval_chance": round(1.0 / (len(val_crops) - 1), 4),
        "probe_train_mixes": len(probe_crops),
    }
    for suffix, model in (("", backbone), ("_untrained", untrained)):
        embeddings = _embed(model, val_crops)
        numbers[f"retrieval_top1{suffix}"] = round(_retrieval_top1(embeddings), 4)
        r2 = _ridge_r2(_embed(model, probe_crops), probe_targets, embeddings, val_targets, config.probe_alpha)
        numbers[f"probe_r2{suffix}"] = round(r2, 4)
    return numbers


def _val_crops(
    bank: _MixBank, crop_frames: int, rng: np.random.Generator
) -> tuple[torch.Tensor, torch.Tensor, np.ndarray]:
    """Two disjoint crops of every mix (one from each half of the song, shared by all its mixes), and targets."""
    views_a, views_b = [], []
    for logmel in bank.logmels:
        half = logmel.shape[-1] // 2
        a = rng.integers(0, half - crop_frames + 1)
        b = rng.integers(half, logmel.shape[-1] - crop_frames + 1)
        views_a.append(logmel[..., a : a + crop_frames])
        views_b.append(logmel[..., b : b + crop_frames])
    return torch.cat(views_a).float(), torch.cat(views_b).float(), np.concatenate(bank.targets)


def _probe_crops(bank: _MixBank, crop_frames: int, rng: np.random.Generator) -> tuple[torch.Tensor, np.ndarray]:
    """One random crop of every training mix, to fit the settings probe on, and the mixes' settings."""
    crops = []
    for logmel in bank.logmels:
        starts = rng.integers(0, logmel.shape[-1] - crop_frames + 1, size=logmel.shape[0])
        crops.extend(logmel[m, ..., s : s + crop_frames] for m, s in enumerate(starts))
    return torch.stack(crops).float(), np.concatenate(bank.targets)


def _embed(backbone: Backbone, crops: torch.Tensor) -> np.ndarray:
    """Clip embeddings ``(crops, embedding_dim)`` in eval mode, float64."""
    backbone.eval()
    with torch.inference_mode():
        chunks = [backbone(chunk).embedding for chunk in crops.split(_EMBED_CHUNK)]
    return torch.cat(chunks).double().numpy()


def _retrieval_top1(embeddings: np.ndarray) -> float:
    """Share of crops whose nearest other crop (cosine) is their partner; row ``i`` pairs with ``i + n`` mod ``2n``."""
    z = embeddings / np.maximum(np.linalg.norm(embeddings, axis=1, keepdims=True), 1e-12)
    similarity = z @ z.T
    np.fill_diagonal(similarity, -np.inf)
    n = len(z) // 2
    partners = np.concatenate([np.arange(n, 2 * n), np.arange(n)])
    return float(np.mean(similarity.argmax(axis=1) == partners))


def _ridge_r2(x_fit: np.ndarray, y_fit: np.ndarray, x_eval: np.ndarray, y_eval: np.ndarray, alpha: float) -> float:
    """R² on ``(x_eval, y_eval)`` of a ridge regression fit on standardised ``x_fit``, averaged over outputs."""
    mean, std = x_fit.mean(axis=0), x_fit.std(axis=0) + 1e-8
    x_fit, x_eval = (x_fit - mean) / std, (x_eval - mean) / std
    y_mean = y_fit.mean(axis=0)
    weights = np.linalg.solve(x_fit.T @ x_fit + alpha * np.eye(x_fit.shape[1]), x_fit.T @ (y_fit - y_mean))
    residual = ((y_eval - x_eval @ weights - y_mean) ** 2).sum(axis=0)
    total = ((y_eval - y_eval.mean(axis=0)) ** 2).sum(axis=0)
    varying = total > 0
    return float(np.mean(1.0 - residual[varying] / total[varying]))


def _report(training: dict[str, Any], out: Path) -> str:
    """What the CLI prints: where the checkpoint went and its validation numbers."""
    lines = [
        f"wrote {out}: {training['steps']} steps in {training['seconds']:.0f} s (seed {training['seed']}, "
        f"corpus {training['corpus']}, {training['train_songs']} train / {training['val_songs']} val songs)",
        f"contrastive loss {training['loss_curve'][0]:.3f} -> {training['loss_curve'][-1]:.3f}",
    ]
    v = training.get("validation")
    if v is None:
        return "\n".join([*lines, "no validation songs: no validation numbers"])
    crop = training["config"]["crop_seconds"]
    return "\n".join(
        [
            *lines,
            f"validation on {v['songs']} songs x {v['mixes_per_song']} mixes ({v['crops']} crops of {crop:g} s)"
            "                 trained  untrained",
            f"  top-1 retrieval: nearest crop is the same mix (chance {v['retrieval_chance']:.3f})"
            f"        {v['retrieval_top1']:7.3f}  {v['retrieval_top1_untrained']:9.3f}",
            f"  ridge probe of the normalised settings, R² (fit on {v['probe_train_mixes']} train mixes)"
            f"  {v['probe_r2']:7.3f}  {v['probe_r2_untrained']:9.3f}",
        ]
    )


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m mixenv.pretrain``: pretrain a backbone on a corpus, save it, print its validation numbers."""
    parser = argparse.ArgumentParser(
        prog="python -m mixenv.pretrain",
        description="Pretrain the shared backbone, self-supervised, on mix style: every train song of the corpus is "
        "rendered under its ground-truth settings, perturbations of them and random settings; two time crops of one "
        "mix are a positive pair, all other crops (including the other mixes of the same song) are negatives "
        "(NT-Xent). Prints top-1 retrieval and a settings probe's R² on the val split, trained vs untrained. "
        "The defaults take about 3 minutes on 2 idle CPU cores; same seed, same weights.",
    )
    parser.add_argument(
        "--steps", type=int, default=DEFAULT_PRETRAIN.steps, metavar="N", help="optimiser steps (default: %(default)s)"
    )
    parser.add_argument(
        "--seed",
        type=int,
        default=DEFAULT_PRETRAIN.seed,
        metavar="K",
        help="seeds the initial weights, mixes, batches and crops (default: %(default)s)",
    )
    parser.add_argument(
        "--corpus",
        type=Path,
        metavar="DIR",
        help="corpus folder (from `mixenv corpus --out DIR`); trains on its train split, validates on its val "
        "split (default: the default corpus, built on first use)",
    )
    parser.add_argument(
        "--out",
        type=Path,
        metavar="PATH",
        help="checkpoint to write, atomically (default: DATA/backbones/backbone-v<recipe>-<corpus folder>.pt, "
        "DATA being $MIXENV_DATA or ~/.cache/mixenv; for the default corpus that is the backbone ensure_backbone() "
        "loads, so it is replaced)",
    )
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="mixenv: %(message)s")
    try:
        config = replace(DEFAULT_PRETRAIN, steps=args.steps, seed=args.seed)
        corpus = args.corpus if args.corpus is not None else ensure_corpus(DEFAULT_CORPUS)
        out = args.out if args.out is not None else _backbone_path(corpus.name)
        checkpoint = pretrain_backbone(corpus_songs(corpus, "train"), config, val_songs=corpus_songs(corpus, "val"))
        save_backbone(out, checkpoint.backbone, checkpoint.features, checkpoint.sample_rate, checkpoint.training)
    except (DatasetError, ValueError) as err:
        print(f"mixenv.pretrain: error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("mixenv.pretrain: interrupted; nothing half-written was left behind", file=sys.stderr)
        return 130
    print(_report(checkpoint.training, out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
