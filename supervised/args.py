"""The arguments of ``python -m supervised.train``: a typed dataclass that is also the command line (``--help``)."""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from mixenv.cliargs import HelpFormatter, add_dataclass_arguments, dataclass_from_namespace
from mixenv.data.sources import SOURCES
from mixenv.remix import RemixConfig
from supervised.augment import AUGMENTATIONS, DEFAULT_AUGMENTATIONS
from supervised.data import Remixing
from supervised.models import LOSSES, MODEL_NAMES


@dataclass(frozen=True)
class TrainArgs:
    """Arguments of ``python -m supervised.train``; each field's ``help`` is its command-line help."""

    model: str = field(default="cnn", metadata={"help": "which model", "choices": MODEL_NAMES})
    epochs: int = field(default=30, metadata={"help": "epochs (one pass over the train songs each, by default)"})
    seed: int = field(default=0, metadata={"help": "seeds the initial weights, batches, crops and augmentation"})
    out: Path | None = field(
        default=None, metadata={"help": "run folder (default: runs/supervised__MODEL__SEED__TIME)"}
    )
    init_backbone: str = field(
        default="default",
        metadata={
            "help": "backbone weights to start from: 'default' (the pretrained default backbone, shipped with mixenv), "
            "a checkpoint PATH, or 'none' (from scratch); the patch model has no pretrained weights and always "
            "starts from scratch"
        },
    )
    freeze_backbone: bool = field(default=False, metadata={"help": "keep the backbone fixed; train the head only"})
    no_reference_match: bool = field(
        default=False,
        metadata={"help": "leave out the reference-matching features (mixenv.match); backbone only"},
    )
    augment: tuple[str, ...] = field(
        default=DEFAULT_AUGMENTATIONS,
        metadata={"help": f"augmentations: any of {', '.join(AUGMENTATIONS)}, or 'all', or 'none'"},
    )
    data: str = field(
        default="synthetic",
        metadata={
            "help": "what to train on: a synthetic corpus, or stems without ground truth (musdb18hq, medleydb, "
            "folder), which need --mixes-per-song",
            "choices": tuple(SOURCES),
        },
    )
    data_path: Path | None = field(
        default=None,
        metadata={"help": "the collection's folder (default: the default synthetic corpus, built on first use)"},
    )
    more_data: tuple[str, ...] = field(
        default=(),
        metadata={
            "help": "more collections whose train and val songs join --data's: a training set by name ('classics': "
            "real compositions, built on first use) or a DIR of a corpus or of song folders, at the same sample rate",
            "metavar": "NAME|DIR",
        },
    )
    mixes_per_song: int = field(
        default=0,
        metadata={
            "help": "train on this many remixes of every song's stems (mixenv.remix: settings drawn wide, so only "
            "the reference tells them; any multitrack trains); 0: each song's own reference and ground truth"
        },
    )
    wide_share: float = field(
        default=1.0,
        metadata={"help": "share of remixes mixed under the wide prior; the rest keep the song's own ground truth"},
    )
    recolour: bool = field(
        default=True,
        metadata={"help": "re-colour remixed stems", "no_help": "remix the stems as recorded (no re-colouring)"},
    )
    drop_role: float = field(default=0.2, metadata={"help": "chance that a remix leaves out each non-lead role"})
    remix_rates: tuple[int, ...] = field(
        default=(),
        metadata={"help": "remix at sample rates drawn from these (default: the songs' own)", "metavar": "HZ"},
    )
    excerpt_seconds: float = field(default=5.0, metadata={"help": "each remix is of a random excerpt this long"})
    originals: bool = field(
        default=True,
        metadata={
            "help": "keep each song's own mix beside its remixes (where it has a ground truth)",
            "no_help": "train on the remixes alone",
        },
    )
    batch_size: int = field(default=16, metadata={"help": "clips per step"})
    clip_seconds: float = field(default=4.0, metadata={"help": "length of the training and validation clips"})
    min_clip_seconds: float | None = field(
        default=None,
        metadata={"help": "draw each batch's clip length between this and --clip-seconds (default: fixed length)"},
    )
    steps_per_epoch: int = field(default=0, metadata={"help": "steps per epoch (0: one pass over the train songs)"})
    lr: float = field(default=1e-3, metadata={"help": "peak learning rate of the head (AdamW)"})
    backbone_lr_scale: float = field(
        default=0.3, metadata={"help": "a pretrained backbone's learning rate, as a share of --lr"}
    )
    weight_decay: float = field(default=1e-4, metadata={"help": "AdamW weight decay"})
    loss: str = field(default="mse", metadata={"help": "loss on normalised settings", "choices": LOSSES})
    patience: int = field(default=6, metadata={"help": "stop after this many epochs without a better val loss"})
    reference_dropout: float = field(
        default=0.2, metadata={"help": "probability of hiding the reference from a batch (learns reference-free)"}
    )
    val_clips: int = field(default=3, metadata={"help": "fixed validation clips per val song"})
    width: int | None = field(default=None, metadata={"help": "head width (default: the model's)"})
    depth: int | None = field(default=None, metadata={"help": "head layers (default: the model's)"})
    dropout: float | None = field(default=None, metadata={"help": "head dropout (default: the model's)"})
    kernel_size: int | None = field(default=None, metadata={"help": "crnn temporal kernel, odd (default: 3)"})
    heads: int | None = field(default=None, metadata={"help": "attention heads (default: 4)"})
    latent_dim: int | None = field(default=None, metadata={"help": "cvae latent size (default: 8)"})
    beta: float | None = field(default=None, metadata={"help": "cvae KL weight (default: the model's)"})
    free_bits: float | None = field(
        default=None, metadata={"help": "cvae KL nats per latent dimension that cost nothing (default: 0.5)"}
    )
    stop_after: int | None = field(
        default=None,
        metadata={
            "help": "stop once this many of --epochs are done, the schedule still --epochs' (continue with --resume)"
        },
    )
    resume: bool = field(
        default=False,
        metadata={"help": "continue the run in --out from its last.pt, with its own settings (only --epochs may grow)"},
    )
    progress: bool = field(default=True, metadata={"help": "show a progress bar", "no_help": "hide the progress bar"})

    def __post_init__(self) -> None:
        if self.model not in MODEL_NAMES:
            raise ValueError(f"unknown model {self.model!r}; choose from {', '.join(MODEL_NAMES)}")
        unknown = sorted(set(self.augment) - set(AUGMENTATIONS))
        if unknown:
            raise ValueError(f"unknown augmentations {unknown}; choose from {', '.join(AUGMENTATIONS)}, all, none")
        if self.stop_after is not None and self.stop_after < 1:
            raise ValueError(f"stop_after must be >= 1 (or None), got {self.stop_after}")
        if min(self.epochs, self.batch_size, self.val_clips) < 1 or self.steps_per_epoch < 0 or self.patience < 1:
            raise ValueError("epochs, batch_size, val_clips and patience must be >= 1 and steps_per_epoch >= 0")
        if self.clip_seconds <= 0 or self.lr <= 0 or not 0.0 <= self.reference_dropout <= 1.0:
            raise ValueError(
                f"clip_seconds and lr must be positive and reference_dropout in [0, 1], got {self.clip_seconds}, "
                f"{self.lr}, {self.reference_dropout}"
            )
        if self.loss not in LOSSES:
            raise ValueError(f"loss must be one of {LOSSES}, got {self.loss!r}")
        if self.data != "synthetic" and self.mixes_per_song < 1:
            raise ValueError(
                f"{self.data} songs have no ground-truth settings; train on remixes of their stems: --mixes-per-song 4"
            )
        if self.min_clip_seconds is not None and not 0 < self.min_clip_seconds <= self.clip_seconds:
            raise ValueError(
                f"min_clip_seconds must be in (0, clip_seconds={self.clip_seconds}], got {self.min_clip_seconds}"
            )
        if not 0.0 <= self.wide_share <= 1.0:
            raise ValueError(f"wide_share must be in [0, 1], got {self.wide_share}")
        if self.mixes_per_song < 0 or not 0.0 <= self.drop_role < 1.0 or self.excerpt_seconds < self.clip_seconds:
            raise ValueError(
                "mixes_per_song must be >= 0, drop_role in [0, 1) and excerpt_seconds at least clip_seconds, got "
                f"{self.mixes_per_song}, {self.drop_role}, {self.excerpt_seconds}"
            )

    def remixing(self) -> Remixing | None:
        """How the training examples are remixed (``None``: the songs' own mixes)."""
        if not self.mixes_per_song:
            return None
        config = RemixConfig(self.wide_share, self.recolour, self.drop_role, self.remix_rates)
        return Remixing(self.mixes_per_song, config, self.excerpt_seconds, self.seed, self.originals)


def parse_args(argv: Sequence[str] | None = None) -> TrainArgs:
    """Parse the command line into :class:`TrainArgs` (``--help`` is built from its fields)."""
    parser = argparse.ArgumentParser(
        prog="python -m supervised.train",
        description="Train a supervised model to predict the mix settings (normalised ParamSpace vector) from the "
        "raw stems' log-mels and the reference, on the synthetic corpus's ground truth; validates every epoch, "
        "stops early, keeps the best model in OUT/model.pt. Evaluate it with python -m supervised.evaluate.",
        formatter_class=HelpFormatter,
    )
    add_dataclass_arguments(parser, TrainArgs)
    namespace = parser.parse_args(argv)
    augment = namespace.augment
    if "none" in augment or "all" in augment:
        if len(augment) > 1:
            parser.error(f"--augment takes 'all', 'none' or a list of names, not {' '.join(augment)}")
        namespace.augment = [] if augment == ["none"] else list(AUGMENTATIONS)
    try:
        return dataclass_from_namespace(TrainArgs, namespace)
    except ValueError as err:
        parser.error(str(err))
