"""``attention``: self-attention across stems and time over the backbone's frame tokens, read out by one query
per group of controls, whose attention weights show which stem that group listens to.

Tokens are the frame embeddings of every stem and of the reference, projected to ``width``, plus a learned
segment embedding (which stem, or the reference) and a sine time position. ``depth`` pre-norm transformer blocks
attend over all of them, across stems and time (absent stems and a missing reference are masked out). Then one
learned query per role and one for the master bus cross-attend to the tokens: each role query gives its strip's
nine controls through a shared linear layer, the master query the five bus controls. That readout's attention
weights, summed over each segment's frames, are what :meth:`AttentionModel.stem_attention` returns: for every
group of controls, the share of attention on each stem and on the reference.
"""

from __future__ import annotations

from typing import NamedTuple

import torch
from torch import nn

from mixenv.params import MASTER_CONTROLS, STEM_CONTROLS
from supervised.models.base import Encoded, MixModel
from supervised.models.config import ModelConfig
from supervised.models.layers import mlp, sinusoid


class StemAttention(NamedTuple):
    """Attention mass of each output group on each input segment.

    Attributes:
        weights: ``(batch, queries, segments)``; every row sums to 1 (0 on absent stems and a missing reference).
        queries: The output groups: the roles, then ``"master"``.
        segments: The inputs: the roles, then ``"reference"``.
    """

    weights: torch.Tensor
    queries: tuple[str, ...]
    segments: tuple[str, ...]


class _Block(nn.Module):
    """Pre-norm transformer block: self-attention over the tokens, then a feed-forward layer, both residual."""

    def __init__(self, width: int, heads: int, dropout: float) -> None:
        super().__init__()
        self.attention_norm = nn.LayerNorm(width)
        self.attention = nn.MultiheadAttention(width, heads, dropout=dropout, batch_first=True)
        self.feedforward_norm = nn.LayerNorm(width)
        self.feedforward = mlp(width, 2 * width, 1, width, dropout)
        self.dropout = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor, padding: torch.Tensor) -> torch.Tensor:
        h = self.attention_norm(x)
        attended, _ = self.attention(h, h, h, key_padding_mask=padding, need_weights=False)
        x = x + self.dropout(attended)
        return x + self.dropout(self.feedforward(self.feedforward_norm(x)))


class AttentionModel(MixModel):
    """Frame tokens of every stem and the reference -> transformer blocks -> per-group query readout -> settings."""

    def __init__(self, config: ModelConfig, backbone: nn.Module) -> None:
        super().__init__(config, backbone)
        if config.depth < 1:
            raise ValueError(f"the attention model needs depth >= 1 (transformer blocks), got {config.depth}")
        d, width, groups = self.embedding_dim, config.width, self.n_roles + 1
        self.frame_norm = nn.LayerNorm(d)
        self.reference_norm = nn.LayerNorm(d)
        self.project = nn.Linear(d, width)
        self.segment = nn.Parameter(0.02 * torch.randn(groups, width))
        self.blocks = nn.ModuleList(_Block(width, config.heads, config.dropout) for _ in range(config.depth))
        self.norm = nn.LayerNorm(width)
        self.queries = nn.Parameter(0.02 * torch.randn(groups, width))
        self.readout = nn.MultiheadAttention(width, config.heads, batch_first=True)
        self.readout_norm = nn.LayerNorm(width)
        self.readout_feedforward = mlp(width, 2 * width, 1, width, config.dropout)
        self.strip = nn.Linear(width, len(STEM_CONTROLS))
        self.master = nn.Linear(width, len(MASTER_CONTROLS))

    def settings_logits(self, encoded: Encoded, presence: torch.Tensor) -> torch.Tensor:
        return self._read(encoded, presence)[0]

    def stem_attention(
        self, stems: torch.Tensor, presence: torch.Tensor, reference: torch.Tensor | None = None
    ) -> StemAttention:
        """Which stem (or the reference) each group of controls attends to, for a batch of inputs."""
        self.check_inputs(stems, presence, reference)
        _, weights = self._read(self.encode(stems, presence, reference), presence)
        batch, queries, tokens = weights.shape
        segments = self.n_roles + (reference is not None)
        mass = weights.reshape(batch, queries, segments, tokens // segments).sum(dim=-1)
        if reference is None:
            mass = torch.cat([mass, mass.new_zeros(batch, queries, 1)], dim=-1)
        roles = self.space.roles
        return StemAttention(mass, (*roles, "master"), (*roles, "reference"))

    def _read(self, encoded: Encoded, presence: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Settings pre-activations and the readout's attention weights ``(batch, queries, tokens)``."""
        tokens, padding = self._tokens(encoded, presence)
        for block in self.blocks:
            tokens = block(tokens, padding)
        memory = self.norm(tokens)
        queries = self.queries.expand(tokens.shape[0], -1, -1)
        read, weights = self.readout(
            queries, memory, memory, key_padding_mask=padding, need_weights=True, average_attn_weights=True
        )
        h = queries + read
        h = h + self.readout_feedforward(self.readout_norm(h))
        strips = self.strip(h[:, : self.n_roles]).flatten(1)  # role-major, as in ParamSpace
        return torch.cat([strips, self.master(h[:, self.n_roles])], dim=1), weights

    def _tokens(self, encoded: Encoded, presence: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Tokens ``(batch, segments * steps, width)`` and their padding mask (True: ignore)."""
        frames = self.frame_norm(encoded.stems.frames)  # (batch, roles, steps, d)
        batch, roles, steps, _ = frames.shape
        padding = (presence == 0)[:, :, None].expand(batch, roles, steps)
        if encoded.reference is not None:
            frames = torch.cat([frames, self.reference_norm(encoded.reference.frames)[:, None]], dim=1)
            padding = torch.cat([padding, padding.new_zeros(batch, 1, steps)], dim=1)
        segments = frames.shape[1]
        width = self.config.width
        x = self.project(frames) + self.segment[:segments, None, :] + sinusoid(steps, width)
        return x.reshape(batch, segments * steps, width), padding.reshape(batch, segments * steps)
