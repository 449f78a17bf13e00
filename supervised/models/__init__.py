"""The supervised models, by name, and the one function that builds them.

| name        | backbone                         | head                                                          |
|-------------|----------------------------------|---------------------------------------------------------------|
| `cnn`       | shared conv backbone, pretrained | clip embeddings of the stems and the reference -> MLP         |
| `crnn`      | shared conv backbone, pretrained | frame sequences -> temporal conv -> bidirectional GRU -> MLP  |
| `attention` | shared conv backbone, pretrained | self-attention over stem/reference frame tokens, inspectable  |
| `patch`     | patch transformer, from scratch  | the `cnn` head                                                |
| `cvae`      | shared conv backbone, pretrained | conditional VAE over settings (:mod:`supervised.models.cvae`) |

All map ``stems`` ``(batch, roles, mels, frames)``, ``presence`` ``(batch, roles)`` and an optional ``reference``
``(batch, 2, mels, frames)`` to normalised settings ``(batch, params)`` in [-1, 1].
"""

from __future__ import annotations

from torch import nn

from mixenv.backbone import Backbone
from supervised.models.attention import AttentionModel, StemAttention
from supervised.models.base import LOSSES, MixModel, masked_loss
from supervised.models.cnn import PoolModel
from supervised.models.config import PRESETS, ModelConfig, preset
from supervised.models.crnn import RecurrentModel
from supervised.models.cvae import SettingsCVAE
from supervised.models.patch import PatchBackbone, PatchConfig

MODEL_NAMES: tuple[str, ...] = tuple(PRESETS)

__all__ = [
    "LOSSES",
    "MODEL_NAMES",
    "PRESETS",
    "AttentionModel",
    "MixModel",
    "ModelConfig",
    "PatchBackbone",
    "PatchConfig",
    "PoolModel",
    "RecurrentModel",
    "SettingsCVAE",
    "StemAttention",
    "build_model",
    "masked_loss",
    "preset",
]


def build_model(config: ModelConfig, backbone: nn.Module | None = None) -> MixModel:
    """The model ``config`` describes, on ``backbone`` (pretrained weights) or on a freshly initialised one.

    Raises:
        ValueError: If ``backbone``'s architecture is not the one ``config`` names.
    """
    if backbone is None:
        backbone = Backbone(config.conv) if config.backbone == "conv" else PatchBackbone(config.patch)
    expected = config.conv if config.backbone == "conv" else config.patch
    if getattr(backbone, "config", None) != expected:
        raise ValueError(
            f"the backbone's architecture {getattr(backbone, 'config', type(backbone).__name__)} is not the "
            f"config's {expected}; build the config from the backbone (preset(..., conv=backbone.config))"
        )
    heads: dict[str, type[MixModel]] = {
        "pool": PoolModel,
        "recurrent": RecurrentModel,
        "attention": AttentionModel,
        "cvae": SettingsCVAE,
    }
    return heads[config.head](config, backbone)
