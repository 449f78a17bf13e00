"""The architecture of a supervised model as one frozen record, stored in every checkpoint."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, replace
from typing import Any

from mixenv.backbone import BackboneConfig
from mixenv.features import FeatureConfig
from mixenv.params import ROLES
from supervised.models.patch import PatchConfig

HEADS: tuple[str, ...] = ("pool", "recurrent", "attention", "cvae")
BACKBONES: tuple[str, ...] = ("conv", "patch")
RECURRENT: tuple[str, ...] = ("gru", "lstm")


@dataclass(frozen=True)
class ModelConfig:
    """A backbone, a head on it, and their sizes.

    Attributes:
        name: The preset it started from (``cnn``, ``crnn``, ``attention``, ``patch``, ``cvae``).
        head: ``pool`` (clip embeddings -> MLP), ``recurrent`` (frame sequences -> GRU/LSTM -> MLP), ``attention``
            (self-attention over stem and reference frame tokens, read out by one query per output group) or
            ``cvae`` (the conditional VAE of :mod:`supervised.models.cvae`).
        backbone: ``conv`` (:class:`mixenv.backbone.Backbone`, pretrained) or ``patch``
            (:class:`~supervised.models.patch.PatchBackbone`, from scratch).
        roles: Stem slots, in ParamSpace order.
        width: Hidden size of the head (token size for ``attention``).
        depth: Head layers: MLP hidden layers (``pool``, ``cvae``), recurrent layers, attention blocks.
        dropout: Dropout in the head.
        kernel_size: Temporal convolution (frames) in front of the recurrent layers; odd, 1 is pointwise.
        heads: Attention heads of the ``attention`` head.
        recurrent: ``gru`` or ``lstm``.
        latent_dim: Latent size of the ``cvae``.
        beta: KL weight of the ``cvae``.
        free_bits: KL per latent dimension (nats, batch mean) that costs the ``cvae`` nothing; keeps its posterior
            from collapsing onto the prior.
        reference_match: Add each stem's :class:`~mixenv.match.ReferenceMatch` features (its fitted
            gain in the reference per band, channel and loudness) to its embeddings when a reference is given.
        floor_db: The level of log-mel value -1 in the inputs (:attr:`mixenv.features.FeatureConfig.floor_db` of
            the features trained on), which reference matching needs to turn log-mels back into power.
        conv: Architecture of the ``conv`` backbone (taken from the checkpoint it starts from).
        patch: Architecture of the ``patch`` backbone.
    """

    name: str = "cnn"
    head: str = "pool"
    backbone: str = "conv"
    roles: tuple[str, ...] = ROLES
    width: int = 256
    depth: int = 2
    dropout: float = 0.1
    kernel_size: int = 3
    heads: int = 4
    recurrent: str = "gru"
    latent_dim: int = 8
    beta: float = 0.01
    free_bits: float = 0.5
    reference_match: bool = True
    floor_db: float = FeatureConfig().floor_db
    conv: BackboneConfig = field(default_factory=BackboneConfig)
    patch: PatchConfig = field(default_factory=PatchConfig)

    def __post_init__(self) -> None:
        for attribute, allowed in (("head", HEADS), ("backbone", BACKBONES), ("recurrent", RECURRENT)):
            if getattr(self, attribute) not in allowed:
                raise ValueError(f"{attribute} must be one of {allowed}, got {getattr(self, attribute)!r}")
        if self.width < 1 or self.depth < 0 or self.heads < 1 or self.latent_dim < 1:
            raise ValueError(
                f"width, heads and latent_dim must be >= 1 and depth >= 0; got width={self.width}, "
                f"depth={self.depth}, heads={self.heads}, latent_dim={self.latent_dim}"
            )
        if self.kernel_size < 1 or self.kernel_size % 2 == 0:
            raise ValueError(f"kernel_size must be odd and >= 1 (same-length convolution), got {self.kernel_size}")
        if not 0.0 <= self.dropout < 1.0 or self.beta < 0 or self.free_bits < 0:
            raise ValueError(
                f"dropout must be in [0, 1), beta and free_bits >= 0; got {self.dropout}, {self.beta}, {self.free_bits}"
            )
        if not self.floor_db < 0:
            raise ValueError(f"floor_db must be negative (the level of log-mel value -1), got {self.floor_db}")
        if self.head == "attention" and self.width % (2 * self.heads):
            raise ValueError(f"width={self.width} must be a multiple of 2 * heads={2 * self.heads} for attention")

    @property
    def n_mels(self) -> int:
        """Mel bands the backbone reads."""
        return self.conv.n_mels if self.backbone == "conv" else self.patch.n_mels

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready values."""
        return asdict(self)

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> ModelConfig:
        """Inverse of :meth:`to_dict`. A configuration saved before ``reference_match`` or ``free_bits`` existed
        describes a model trained without them, so a missing entry reads as off and older checkpoints load as they
        were trained."""
        conv = values["conv"]
        return cls(
            **{
                "reference_match": False,
                "free_bits": 0.0,
                **values,
                "roles": tuple(values["roles"]),
                "conv": BackboneConfig(**{**conv, "widths": tuple(conv["widths"])}),
                "patch": PatchConfig(**values["patch"]),
            }
        )


PRESETS: dict[str, ModelConfig] = {
    "cnn": ModelConfig("cnn", head="pool"),
    "crnn": ModelConfig("crnn", head="recurrent"),
    "attention": ModelConfig("attention", head="attention", width=128),
    "patch": ModelConfig("patch", head="pool", backbone="patch"),
    "cvae": ModelConfig("cvae", head="cvae"),
}
"""The models by name: ``patch`` is the ``cnn`` head on the patch-transformer backbone."""


def preset(name: str, **changes: Any) -> ModelConfig:
    """The preset ``name`` with some fields changed (``None`` values keep the preset's).

    Raises:
        ValueError: For an unknown name.
    """
    if name not in PRESETS:
        raise ValueError(f"unknown model {name!r}; choose from {', '.join(PRESETS)}")
    return replace(PRESETS[name], **{k: v for k, v in changes.items() if v is not None})
