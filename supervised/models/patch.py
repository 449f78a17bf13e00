"""``patch``: an AST/ViT-style transformer over spectrogram patches, a drop-in variant of the shared backbone.

The log-mel ``(batch, 2, mels, frames)`` is cut into non-overlapping patches of 16 bands by 4 frames (linearly
projected: a strided convolution), a learned position per frequency row and a sine position per time column are
added, and a pre-norm transformer encoder attends over all patches, across time and frequency. A frame is the
mean of its time column's patches, so there is one per 4 input frames, as from the convolutional backbone; the
clip embedding pools the frames by mean and standard deviation the same way. It returns the same
:class:`~mixenv.backbone.BackboneOutput`, so every head runs on it unchanged.

It has no pretrained weights: :mod:`mixenv.pretrain` trains the convolutional backbone, so a ``patch`` model
always starts from scratch.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from mixenv.backbone import BackboneOutput
from supervised.models.layers import sinusoid


@dataclass(frozen=True)
class PatchConfig:
    """Architecture of the patch transformer.

    Attributes:
        n_mels: Mel bands of the input (a multiple of ``patch_mels``).
        patch_mels: Bands per patch.
        patch_frames: Frames per patch (4 matches the convolutional backbone's frame rate).
        embedding_dim: Size of the patch tokens, frames and clip embedding.
        depth: Transformer layers.
        heads: Attention heads (must divide ``embedding_dim``).
        dropout: Dropout in the transformer and before the clip projection.
    """

    n_mels: int = 64
    patch_mels: int = 16
    patch_frames: int = 4
    embedding_dim: int = 128
    depth: int = 3
    heads: int = 4
    dropout: float = 0.1

    def __post_init__(self) -> None:
        if self.n_mels % self.patch_mels:
            raise ValueError(f"n_mels={self.n_mels} must be a multiple of patch_mels={self.patch_mels}")
        if self.embedding_dim % (2 * self.heads):
            raise ValueError(f"embedding_dim={self.embedding_dim} must be a multiple of 2 * heads={2 * self.heads}")

    @property
    def TIME_STRIDE(self) -> int:
        """Input frames per output frame (as :attr:`mixenv.backbone.BackboneConfig.TIME_STRIDE`)."""
        return self.patch_frames


class PatchBackbone(nn.Module):
    """Log-mel ``(batch, 2, n_mels, frames)`` in [-1, 1] -> :class:`~mixenv.backbone.BackboneOutput`.

    Args:
        config: Architecture; defaults to :class:`PatchConfig`.
    """

    def __init__(self, config: PatchConfig | None = None) -> None:
        super().__init__()
        self.config = config or PatchConfig()
        c, d = self.config, self.config.embedding_dim
        self.patches = nn.Conv2d(
            2, d, kernel_size=(c.patch_mels, c.patch_frames), stride=(c.patch_mels, c.patch_frames)
        )
        self.frequency_position = nn.Parameter(0.02 * torch.randn(c.n_mels // c.patch_mels, d))
        layer = nn.TransformerEncoderLayer(
            d, c.heads, 2 * d, c.dropout, activation="gelu", batch_first=True, norm_first=True
        )
        self.encoder = nn.TransformerEncoder(layer, c.depth, enable_nested_tensor=False)
        self.norm = nn.LayerNorm(d)
        self.dropout = nn.Dropout(c.dropout)
        self.clip_projection = nn.Linear(2 * d, d)

    @property
    def embedding_dim(self) -> int:
        """Size of the embeddings."""
        return self.config.embedding_dim

    def forward(self, logmel: torch.Tensor) -> BackboneOutput:
        c = self.config
        if logmel.ndim != 4 or logmel.shape[1] != 2 or logmel.shape[2] != c.n_mels:
            raise ValueError(
                f"patch backbone expects log-mel shaped (batch, 2, {c.n_mels}, frames), got {tuple(logmel.shape)}"
            )
        if logmel.shape[3] < c.patch_frames:
            raise ValueError(f"patch backbone needs at least {c.patch_frames} frames, got {logmel.shape[3]}")
        x = self.patches(logmel)  # (batch, d, rows, columns)
        batch, d, rows, columns = x.shape
        x = x.permute(0, 2, 3, 1) + self.frequency_position[:, None, :] + sinusoid(columns, d)
        x = self.norm(self.encoder(x.reshape(batch, rows * columns, d))).reshape(batch, rows, columns, d)
        frames = x.mean(dim=1)  # (batch, columns, d)
        pooled = torch.cat([frames.mean(dim=1), frames.std(dim=1, unbiased=False)], dim=1)
        return BackboneOutput(self.clip_projection(self.dropout(pooled)), frames)
