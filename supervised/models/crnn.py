"""``crnn``: the backbone's frame sequences of all stems and the reference, over time through a GRU (or LSTM).

At every frame (one per ~92 ms) the stems' and the reference's frame embeddings are concatenated in role order
with the presence mask and projected to ``width``; a residual temporal convolution of ``kernel_size`` frames
looks at the neighbourhood, a bidirectional recurrent stack of ``depth`` layers reads the whole clip, and the
mean and maximum over time go through an MLP. Without a reference a learned vector stands in at every frame.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from supervised.models.base import Encoded, MixModel
from supervised.models.config import ModelConfig
from supervised.models.layers import mlp


class RecurrentModel(MixModel):
    """Per-frame concatenation -> temporal convolution -> bidirectional GRU/LSTM -> mean and max pooling -> MLP."""

    def __init__(self, config: ModelConfig, backbone: nn.Module) -> None:
        super().__init__(config, backbone)
        if config.depth < 1 or config.width % 2:
            raise ValueError(f"crnn needs depth >= 1 and an even width, got depth={config.depth}, {config.width}")
        d, width = self.embedding_dim, config.width
        self.frame_norm = nn.LayerNorm(d)
        self.reference_norm = nn.LayerNorm(d)
        self.no_reference = nn.Parameter(torch.zeros(d))
        self.project = nn.Linear((self.n_roles + 1) * d + self.n_roles, width)
        self.conv = nn.Conv1d(width, width, config.kernel_size, padding=config.kernel_size // 2)
        recurrent = nn.GRU if config.recurrent == "gru" else nn.LSTM
        self.recurrent = recurrent(
            width,
            width // 2,
            num_layers=config.depth,
            batch_first=True,
            bidirectional=True,
            dropout=config.dropout if config.depth > 1 else 0.0,
        )
        self.dropout = nn.Dropout(config.dropout)
        self.output = mlp(2 * width, width, 1, self.space.size, config.dropout)

    def settings_logits(self, encoded: Encoded, presence: torch.Tensor) -> torch.Tensor:
        frames = self.frame_norm(encoded.stems.frames) * presence[..., None, None]  # (batch, roles, steps, d)
        batch, roles, steps, d = frames.shape
        if encoded.reference is None:
            reference = self.no_reference.expand(batch, steps, d)
        else:
            reference = self.reference_norm(encoded.reference.frames)
        per_step = [frames.transpose(1, 2).reshape(batch, steps, roles * d), reference]
        x = self.project(torch.cat([*per_step, presence[:, None, :].expand(batch, steps, roles)], dim=-1))
        x = x + F.gelu(self.conv(x.transpose(1, 2))).transpose(1, 2)
        out, _ = self.recurrent(self.dropout(x))
        return self.output(self.dropout(torch.cat([out.mean(dim=1), out.amax(dim=1)], dim=-1)))
