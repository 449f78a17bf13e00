"""What every supervised model shares: input checks, the backbone over each stem and the reference, a tanh output.

A model maps ``stems`` ``(batch, roles, mels, frames)``, ``presence`` ``(batch, roles)`` and optionally a
``reference`` ``(batch, 2, mels, frames)`` (all float32 in [-1, 1]) to normalised settings ``(batch, params)`` in
[-1, 1], float32, in :class:`~mixenv.params.ParamSpace` order. Each stem's mono log-mel is duplicated to the
backbone's two channels; one backbone pass serves every stem and the reference (shared weights). Subclasses
only turn the encoded stems and reference into the settings' pre-activations.
"""

from __future__ import annotations

import abc
from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import nn

from mixenv.backbone import BackboneOutput
from mixenv.match import ReferenceMatch
from mixenv.params import ParamSpace
from supervised.inputs import InputError, ModelInputs
from supervised.models.config import ModelConfig
from supervised.models.layers import mlp

LOSSES: tuple[str, ...] = ("mse", "smooth_l1")
SMOOTH_L1_BETA = 0.1
"""Normalised units where Smooth-L1 turns from quadratic to linear (a tenth of a control's half-range)."""


class Encoded(NamedTuple):
    """Backbone outputs: ``stems`` with embedding ``(batch, roles, D)`` and frames ``(batch, roles, T', D)``;
    ``reference`` with ``(batch, D)`` and ``(batch, T', D)``, or ``None``."""

    stems: BackboneOutput
    reference: BackboneOutput | None


class MixModel(nn.Module, abc.ABC):
    """Base of every supervised model.

    Args:
        config: The architecture.
        backbone: A :class:`mixenv.backbone.Backbone` or :class:`~supervised.models.patch.PatchBackbone`.
    """

    def __init__(self, config: ModelConfig, backbone: nn.Module) -> None:
        super().__init__()
        self.config = config
        self.space = ParamSpace(config.roles)
        self.backbone = backbone
        self.backbone_frozen = False
        self.match = ReferenceMatch(config.n_mels, floor_db=config.floor_db) if config.reference_match else None
        self.match_projection = (
            mlp(self.match.features_per_stem, config.width, 1, self.embedding_dim, config.dropout)
            if self.match is not None
            else None
        )

    @property
    def n_roles(self) -> int:
        """Stem slots."""
        return len(self.space.roles)

    @property
    def embedding_dim(self) -> int:
        """Size of the backbone's embeddings."""
        return self.backbone.embedding_dim

    def freeze_backbone(self, frozen: bool = True) -> None:
        """Keep the backbone's weights and normalisation statistics fixed (eval mode, no gradients)."""
        self.backbone_frozen = frozen
        self.backbone.requires_grad_(not frozen)
        self.train(self.training)

    def train(self, mode: bool = True) -> MixModel:
        super().train(mode)
        if self.backbone_frozen:
            self.backbone.eval()
        return self

    def forward(
        self, stems: torch.Tensor, presence: torch.Tensor, reference: torch.Tensor | None = None
    ) -> torch.Tensor:
        """Normalised settings ``(batch, params)`` in [-1, 1].

        Raises:
            InputError: For inputs of the wrong type or shape (the message says what is expected).
        """
        self.check_inputs(stems, presence, reference)
        return torch.tanh(self.settings_logits(self.encode(stems, presence, reference), presence))

    def encode(self, stems: torch.Tensor, presence: torch.Tensor, reference: torch.Tensor | None) -> Encoded:
        """One backbone pass over every stem (mono duplicated to two channels) and the reference; with a reference
        (and ``config.reference_match``), each stem's reference-matching features, projected, are added to its
        embedding and to each of its frames."""
        batch, roles, mels, frames = stems.shape
        signals = stems.reshape(batch * roles, 1, mels, frames).expand(-1, 2, -1, -1)
        if reference is not None:
            signals = torch.cat([signals, reference])
        with torch.set_grad_enabled(torch.is_grad_enabled() and not self.backbone_frozen):
            out = self.backbone(signals)
        n = batch * roles
        d, steps = out.embedding.shape[-1], out.frames.shape[1]
        encoded_stems = BackboneOutput(
            out.embedding[:n].reshape(batch, roles, d), out.frames[:n].reshape(batch, roles, steps, d)
        )
        if reference is None:
            return Encoded(encoded_stems, None)
        if self.match is not None and self.match_projection is not None:
            matched = self.match_projection(self.match(stems, presence, reference)) * presence[..., None]
            encoded_stems = BackboneOutput(
                encoded_stems.embedding + matched, encoded_stems.frames + matched[:, :, None, :]
            )
        return Encoded(encoded_stems, BackboneOutput(out.embedding[n:], out.frames[n:]))

    @abc.abstractmethod
    def settings_logits(self, encoded: Encoded, presence: torch.Tensor) -> torch.Tensor:
        """Pre-activations ``(batch, params)`` of the settings."""

    def training_loss(
        self, inputs: ModelInputs, targets: torch.Tensor, masks: torch.Tensor, loss: str = "mse"
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """The loss to minimise on a batch and the predictions ``(batch, params)`` it was computed from."""
        predictions = self(*inputs)
        return masked_loss(predictions, targets, masks, loss), predictions

    def check_inputs(self, stems: torch.Tensor, presence: torch.Tensor, reference: torch.Tensor | None) -> None:
        """Raise :class:`~supervised.inputs.InputError` naming the fix for inputs this model cannot read."""
        roles, mels = self.space.roles, self.config.n_mels
        expected = f"(batch, {len(roles)} stems {'/'.join(roles)}, {mels} mels, frames)"
        for name, tensor in (("stems", stems), ("reference", reference)):
            if tensor is not None and not (isinstance(tensor, torch.Tensor) and torch.is_floating_point(tensor)):
                raise InputError(
                    f"{name} must be a float tensor of log-mel in [-1, 1], got {type(tensor).__name__} of dtype "
                    f"{tensor.dtype}; convert MixEnv's uint8 observations with mixenv.features.from_uint8"
                )
        if stems.ndim != 4 or stems.shape[1] != len(roles) or stems.shape[2] != mels:
            raise InputError(
                f"stems must be shaped {expected}, got {tuple(stems.shape)}; give every role its slot, an absent "
                "stem as silence (-1) with presence 0"
            )
        stride = self.backbone.config.TIME_STRIDE
        if stems.shape[3] < stride:
            raise InputError(f"clips need at least {stride} frames, got {stems.shape[3]}; use a longer clip")
        if tuple(presence.shape) != tuple(stems.shape[:2]):
            raise InputError(f"presence must be shaped {tuple(stems.shape[:2])}, got {tuple(presence.shape)}")
        if not bool((presence.sum(dim=1) > 0).all()):
            raise InputError("every clip needs at least one present stem, but a row of presence is all zeros")
        if reference is not None and tuple(reference.shape) != (stems.shape[0], 2, mels, stems.shape[3]):
            raise InputError(
                f"reference must be shaped {(stems.shape[0], 2, mels, stems.shape[3])} (stereo, as long as the "
                f"stems), got {tuple(reference.shape)}; pass reference=None for reference-free prediction"
            )


def masked_loss(predictions: torch.Tensor, targets: torch.Tensor, masks: torch.Tensor, loss: str) -> torch.Tensor:
    """Mean ``loss`` (``mse`` or ``smooth_l1``) over the unmasked entries."""
    if loss == "mse":
        elementwise = (predictions - targets) ** 2
    elif loss == "smooth_l1":
        elementwise = F.smooth_l1_loss(predictions, targets, reduction="none", beta=SMOOTH_L1_BETA)
    else:
        raise ValueError(f"loss must be one of {LOSSES}, got {loss!r}")
    return (elementwise * masks).sum() / masks.sum().clamp_min(1.0)
