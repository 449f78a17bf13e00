"""``cnn``: the baseline. Each stem's clip embedding and the reference's, side by side, into an MLP.

The stems sit in fixed role slots of the concatenation (absent ones zeroed, the presence mask appended), so the
MLP knows which embedding is the vocals; without a reference a learned stand-in vector takes its place.
"""

from __future__ import annotations

import torch
from torch import nn

from supervised.models.base import Encoded, MixModel
from supervised.models.config import ModelConfig
from supervised.models.layers import mlp


class PoolModel(MixModel):
    """Clip embeddings ``(roles + 1) * D`` plus presence -> ``depth`` hidden layers of ``width`` -> settings."""

    def __init__(self, config: ModelConfig, backbone: nn.Module) -> None:
        super().__init__(config, backbone)
        d = self.embedding_dim
        self.stem_norm = nn.LayerNorm(d)
        self.reference_norm = nn.LayerNorm(d)
        self.no_reference = nn.Parameter(torch.zeros(d))
        in_features = (self.n_roles + 1) * d + self.n_roles
        self.mlp = mlp(in_features, config.width, config.depth, self.space.size, config.dropout)

    def settings_logits(self, encoded: Encoded, presence: torch.Tensor) -> torch.Tensor:
        stems = self.stem_norm(encoded.stems.embedding) * presence[..., None]
        if encoded.reference is None:
            reference = self.no_reference.expand(stems.shape[0], -1)
        else:
            reference = self.reference_norm(encoded.reference.embedding)
        return self.mlp(torch.cat([stems.flatten(1), reference, presence], dim=1))
