"""What pretraining is judged by, on held-out songs: crop retrieval and a ridge probe of the settings."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from mixenv.backbone import Backbone
from mixenv.pretrain.bank import MixBank
from mixenv.pretrain.config import PROBE_STREAM, VAL_STREAM, PretrainConfig

_EMBED_CHUNK = 128


def validate(
    backbone: Backbone,
    untrained: Backbone,
    bank: MixBank,
    val_bank: MixBank,
    config: PretrainConfig,
    crop_frames: int,
) -> dict[str, Any]:
    """Retrieval accuracy on ``val_bank`` and settings-probe R² (fit on ``bank``), trained vs untrained."""
    view_a, view_b, val_targets = _val_crops(val_bank, crop_frames, np.random.default_rng([config.seed, VAL_STREAM]))
    probe_crops, probe_targets = _probe_crops(bank, crop_frames, np.random.default_rng([config.seed, PROBE_STREAM]))
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
    bank: MixBank, crop_frames: int, rng: np.random.Generator
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


def _probe_crops(bank: MixBank, crop_frames: int, rng: np.random.Generator) -> tuple[torch.Tensor, np.ndarray]:
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
