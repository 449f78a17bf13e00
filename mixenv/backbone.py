"""The shared feature-extraction backbone: log-mel in, a clip embedding and frame embeddings out.

One network serves the FAD reward, the anomaly detector, the RL features extractor and every supervised model.
It takes one stereo signal at a time, ``(batch, 2, n_mels, frames)`` (mono is duplicated); models over several
stems apply it to each stem with shared weights. Four convolution stages reduce frequency by 16 and time by 4
(one output frame per ~92 ms), the remaining frequency axis is averaged away and projected to ``embedding_dim``;
the clip embedding pools the frames by their mean and standard deviation.

Weights are pretrained here, self-supervised on the corpus (:mod:`mixenv.pretrain`), and stored as a local
checkpoint holding the weights, the :class:`BackboneConfig`, the :class:`~mixenv.features.FeatureConfig` they
expect and how they were trained. :func:`load_backbone` reads any such file; nothing is ever downloaded.
"""

from __future__ import annotations

import copy
import os
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import torch
from torch import nn
from torch.nn.utils.fusion import fuse_conv_bn_eval

from mixenv.checkpoint import Trained, load_trained, save_trained
from mixenv.features import LogMel, features_key

CHECKPOINT_FORMAT = "mixenv-backbone"
CHECKPOINT_VERSION = 1


@dataclass(frozen=True)
class BackboneConfig:
    """Architecture of the backbone.

    Attributes:
        n_mels: Mel bands of the input (must divide by 16).
        widths: Channels of the four convolution stages.
        embedding_dim: Size of the frame and clip embeddings.
        dropout: Dropout before the projections (training only).
    """

    n_mels: int = 64
    widths: tuple[int, int, int, int] = (24, 48, 96, 128)
    embedding_dim: int = 128
    dropout: float = 0.1

    def __post_init__(self) -> None:
        if self.n_mels % 16:
            raise ValueError(f"n_mels must be a multiple of 16 (four halvings), got {self.n_mels}")
        if len(self.widths) != 4:
            raise ValueError(f"widths must have four stages, got {self.widths}")

    TIME_STRIDE = 4
    """Input frames per output frame."""


class BackboneOutput(NamedTuple):
    """``embedding``: ``(batch, embedding_dim)``; ``frames``: ``(batch, frames // 4, embedding_dim)``."""

    embedding: torch.Tensor
    frames: torch.Tensor


def _stage(c_in: int, c_out: int, pool: tuple[int, int], stride: tuple[int, int] = (1, 1)) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(c_in, c_out, kernel_size=3, stride=stride, padding=1, bias=False),
        nn.BatchNorm2d(c_out),
        nn.GELU(),
        MaxPool(pool) if pool != (1, 1) else nn.Identity(),
    )


class MaxPool(nn.Module):
    """``nn.MaxPool2d(kernel)`` (stride = kernel, remainders dropped) as elementwise maxima of strided slices.

    The same values, about ten times faster on CPU than ``nn.MaxPool2d`` on the backbone's small feature maps
    (0.05 vs 0.7 ms for a 2x2 pool of 48 x 32 x 91, measured): pooling was a third of the backbone's time.
    """

    def __init__(self, kernel: tuple[int, int]) -> None:
        super().__init__()
        self.kernel = kernel

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for axis, k in zip((-2, -1), self.kernel, strict=True):
            if k > 1:
                blocks = x.narrow(axis, 0, x.shape[axis] // k * k).unflatten(axis, (-1, k))
                x = blocks.select(axis, 0)
                for i in range(1, k):
                    x = torch.maximum(x, blocks.select(axis, i))
        return x

    def extra_repr(self) -> str:
        return f"kernel={self.kernel}"


class Backbone(nn.Module):
    """Log-mel ``(batch, 2, n_mels, frames)`` in [-1, 1] -> :class:`BackboneOutput`.

    Args:
        config: Architecture; defaults to :class:`BackboneConfig`.
    """

    def __init__(self, config: BackboneConfig | None = None) -> None:
        super().__init__()
        self.config = config or BackboneConfig()
        w1, w2, w3, w4 = self.config.widths
        self.stages = nn.Sequential(
            _stage(2, w1, pool=(1, 1), stride=(2, 2)),  # mels/2, frames/2
            _stage(w1, w2, pool=(2, 2)),  # mels/4, frames/4
            _stage(w2, w3, pool=(2, 1)),  # mels/8
            _stage(w3, w4, pool=(2, 1)),  # mels/16
        )
        d = self.config.embedding_dim
        self.dropout = nn.Dropout(self.config.dropout)
        self.frame_projection = nn.Linear(w4, d)
        self.clip_projection = nn.Linear(2 * d, d)

    @property
    def embedding_dim(self) -> int:
        """Size of the embeddings."""
        return self.config.embedding_dim

    def forward(self, logmel: torch.Tensor) -> BackboneOutput:
        if logmel.ndim != 4 or logmel.shape[1] != 2 or logmel.shape[2] != self.config.n_mels:
            raise ValueError(
                f"backbone expects log-mel shaped (batch, 2, {self.config.n_mels}, frames), got {tuple(logmel.shape)}"
            )
        if logmel.shape[3] < BackboneConfig.TIME_STRIDE:
            raise ValueError(f"backbone needs at least {BackboneConfig.TIME_STRIDE} frames, got {logmel.shape[3]}")
        x = self.stages(logmel).mean(dim=2)  # (batch, channels, frames / 4)
        frames = self.frame_projection(self.dropout(x.transpose(1, 2)))  # (batch, frames / 4, d)
        pooled = torch.cat([frames.mean(dim=1), frames.std(dim=1, unbiased=False)], dim=1)
        return BackboneOutput(self.clip_projection(self.dropout(pooled)), frames)


def inference_copy(backbone: Backbone) -> Backbone:
    """A copy of ``backbone`` for CPU inference: batch norms folded into the convolutions, channels-last weights.

    Computes the same function as ``backbone`` in eval mode (to float32 round-off, ~1e-6 of the embeddings'
    scale); feed it channels-last input (``x.contiguous(memory_format=torch.channels_last)``). Per 4 s clip
    inside env steps, measured: 3.6 -> 3.3 ms from the folding (one pass over each feature map fewer), -> 3.0 ms
    from channels-last convolutions. The copy does not follow later changes to ``backbone``'s weights, and it
    cannot be trained.
    """
    folded = copy.deepcopy(backbone).eval()
    for stage in folded.stages:
        stage[0], stage[1] = fuse_conv_bn_eval(stage[0], stage[1]), nn.Identity()
    return folded.requires_grad_(False).to(memory_format=torch.channels_last)


BackboneCheckpoint = Trained[Backbone]
"""A backbone with its features and provenance (``checkpoint.module`` is the :class:`Backbone`)."""


def save_backbone(path: str | os.PathLike[str], checkpoint: BackboneCheckpoint) -> Path:
    """Write a backbone checkpoint (weights, architecture, features, training metadata) to one file, atomically."""
    return save_trained(path, CHECKPOINT_FORMAT, CHECKPOINT_VERSION, checkpoint, asdict(checkpoint.module.config))


def load_backbone(path: str | os.PathLike[str]) -> BackboneCheckpoint:
    """Read a checkpoint written by :func:`save_backbone` (weights only: no code is unpickled).

    Raises:
        FileNotFoundError: If the file does not exist.
        ValueError: If it is not a mixenv backbone checkpoint of this version.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"backbone checkpoint {path} does not exist; pass a file written by save_backbone")
    return load_trained(path, CHECKPOINT_FORMAT, CHECKPOINT_VERSION, "delete it to retrain", _build)


def _build(config: dict[str, Any]) -> Backbone:
    return Backbone(BackboneConfig(**{**config, "widths": tuple(config["widths"])}))


class AudioEmbedder:
    """Audio ``(channels, samples)`` -> backbone embeddings, with the checkpoint's own log-mel front end.

    Runs in inference mode on CPU in float32, on a copy of the backbone taken at construction with its batch
    norms folded and channels-last weights (:func:`inference_copy`); mono audio is duplicated to two channels.

    Args:
        checkpoint: A loaded backbone checkpoint.
        sample_rate: Rate of the audio that will be embedded.
    """

    def __init__(self, checkpoint: BackboneCheckpoint, sample_rate: int) -> None:
        self.checkpoint = checkpoint
        self.backbone = checkpoint.module.eval()
        self._inference = inference_copy(self.backbone)
        self.logmel = LogMel(sample_rate, checkpoint.features)
        self.sample_rate = sample_rate
        self._siblings: dict[int, AudioEmbedder] = {sample_rate: self}

    @property
    def embedding_dim(self) -> int:
        """Size of the embeddings."""
        return self.backbone.embedding_dim

    def features(self, audio: np.ndarray) -> torch.Tensor:
        """Log-mel ``(batch, 2, n_mels, frames)`` of ``(channels, samples)`` or ``(batch, channels, samples)``."""
        x = torch.tensor(np.asarray(audio, dtype=np.float32))  # a copy: inputs may be read-only arrays
        if x.ndim == 2:
            x = x[None]
        if x.shape[1] == 1:
            x = x.expand(-1, 2, -1)
        return self.logmel(x)

    def __call__(self, audio: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Clip embedding ``(D,)`` and frame embeddings ``(T, D)`` of one signal (or batched along axis 0)."""
        embedding, frames = self.embed_features(self.features(audio))
        return (embedding[0], frames[0]) if np.asarray(audio).ndim == 2 else (embedding, frames)

    def embed_features(self, logmel: torch.Tensor) -> tuple[np.ndarray, np.ndarray]:
        """Batched embeddings of log-mel ``(batch, 2, n_mels, frames)`` already made with :attr:`logmel`."""
        with torch.inference_mode():
            out = self._inference(logmel.contiguous(memory_format=torch.channels_last))
        return out.embedding.numpy(), out.frames.numpy()

    @property
    def features_key(self) -> str:
        """Names this embedder's log-mel (rate and configuration), so others who computed it can share it."""
        return features_key(self.sample_rate, self.logmel.config)

    @property
    def embedding_key(self) -> str:
        """Names this backbone's embeddings of a mix in a score memo, so whoever computed them can share them."""
        return f"backbone:{id(self.backbone)}"

    def at_rate(self, sample_rate: int) -> AudioEmbedder:
        """An embedder of the same backbone for audio at ``sample_rate``, made once and kept.

        The log-mel grid is set in seconds, so one backbone reads every rate; only the front end differs. Siblings
        share the backbone, its inference copy and so :attr:`embedding_key`.
        """
        if sample_rate not in self._siblings:
            sibling = copy.copy(self)
            sibling.logmel, sibling.sample_rate = LogMel(sample_rate, self.logmel.config), sample_rate
            self._siblings[sample_rate] = sibling
        return self._siblings[sample_rate]
