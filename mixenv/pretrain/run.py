"""``pretrain_backbone``: render the songs' mixes, train the backbone on them, validate it; ``pretrain_on_corpus``:
the same on a corpus folder's train and val splits."""

from __future__ import annotations

import copy
import logging
import time
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

import torch

from mixenv.backbone import Backbone, BackboneCheckpoint, BackboneConfig
from mixenv.data import SongRef
from mixenv.data.corpus import corpus_songs
from mixenv.features import FeatureConfig
from mixenv.pretrain.bank import check_lengths, render_bank
from mixenv.pretrain.config import OBJECTIVE, PRETRAIN_VERSION, RENDER_STREAM, VAL_STREAM, PretrainConfig
from mixenv.pretrain.contrastive import loss_curve, train_backbone
from mixenv.pretrain.probes import validate

log = logging.getLogger(__name__)


def pretrain_backbone(
    songs: Sequence[SongRef],
    config: PretrainConfig | None = None,
    *,
    val_songs: Sequence[SongRef] = (),
    backbone_config: BackboneConfig | None = None,
    features: FeatureConfig | None = None,
    progress: bool = True,
    stop_after: int | None = None,
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
        stop_after: Train only the recipe's first steps, on its whole learning-rate schedule (to check a run's start
            against a record: :mod:`mixenv.pretrain.default`).

    Returns:
        The trained backbone in eval mode, its features, sample rate and ``training`` metadata (steps trained, seed,
        corpus folder, config, loss curve and, with ``val_songs``, the ``validation`` numbers). Nothing of the run's
        circumstances (no time taken), so one seed's checkpoint file is the same bytes wherever it is made: the
        default good-mix model is found by a digest of those bytes (:func:`mixenv.artifacts.good_mix_model_path`).

    Raises:
        ValueError: For no songs, mixed sample rates, songs shorter than two crops, a backbone whose ``n_mels``
            differs from the features', or ``stop_after`` below 1.
    """
    config = config or PretrainConfig()
    backbone_config = backbone_config or BackboneConfig()
    features = features or FeatureConfig()
    if not songs:
        raise ValueError("pretraining needs at least one training song; pass the train split of a corpus")
    if stop_after is not None and stop_after < 1:
        raise ValueError(f"stop_after must be at least 1 step, got {stop_after}")
    if backbone_config.n_mels != features.n_mels:
        raise ValueError(
            f"backbone expects n_mels={backbone_config.n_mels} but the features give {features.n_mels}; make them equal"
        )
    start = time.perf_counter()
    bank = render_bank(songs, config, features, RENDER_STREAM, progress, "rendering train mixes")
    val_bank = render_bank(val_songs, config, features, VAL_STREAM, progress, "rendering val mixes")
    if val_bank is not None and val_bank.sample_rate != bank.sample_rate:
        raise ValueError(f"val songs are at {val_bank.sample_rate} Hz but train songs at {bank.sample_rate} Hz")
    crop_frames = max(
        BackboneConfig.TIME_STRIDE,
        round(config.crop_seconds * bank.sample_rate / features.hop_length(bank.sample_rate)),
    )
    check_lengths(bank, songs, crop_frames)
    if val_bank is not None:
        check_lengths(val_bank, val_songs, crop_frames)
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
        losses = train_backbone(backbone, bank, config, crop_frames, progress, stop_after)
    log.info("trained %d steps, %.0f s since the start", len(losses), time.perf_counter() - start)
    backbone.eval()
    training: dict[str, Any] = {
        "objective": OBJECTIVE,
        "recipe_version": PRETRAIN_VERSION,
        "steps": len(losses),
        "seed": config.seed,
        "corpus": songs[0].path.parent.name,
        "train_songs": len(songs),
        "val_songs": len(val_songs),
        "config": asdict(config),
        "loss_curve": loss_curve(losses),
    }
    if val_bank is not None:
        training["validation"] = validate(backbone, untrained, bank, val_bank, config, crop_frames)
    return BackboneCheckpoint(backbone, features, bank.sample_rate, training)


def pretrain_on_corpus(
    corpus_folder: Path, config: PretrainConfig | None = None, *, stop_after: int | None = None, progress: bool = True
) -> BackboneCheckpoint:
    """:func:`pretrain_backbone` on a corpus folder's train split, validated on its val split; a run's first
    ``stop_after`` steps only are not validated (they are checked against a record, and validating would take
    longer than they do)."""
    val = corpus_songs(corpus_folder, "val") if stop_after is None else []
    train = corpus_songs(corpus_folder, "train")
    return pretrain_backbone(train, config, val_songs=val, progress=progress, stop_after=stop_after)
