"""The shared backbone as a stable-baselines3 features extractor, over MixEnv's embedding or log-mel observations."""

from __future__ import annotations

import torch
from gymnasium import spaces
from stable_baselines3.common.torch_layers import BaseFeaturesExtractor

from mixenv import artifacts
from mixenv.features import from_uint8


class BackboneExtractor(BaseFeaturesExtractor):
    """MixEnv observations -> one feature vector: per-stem, mix and reference embeddings, settings, presence, and
    the stems' reference-matching features where the env observes them (``reference_match=True``).

    With embedding observations it concatenates them; with log-mel images it runs the shared backbone on each
    stem (mono duplicated to two channels), the mix and the reference, trained along with the policy unless
    ``freeze``. Absent stems contribute zeros.

    Args:
        observation_space: MixEnv's Dict space.
        backbone_path: Checkpoint for the log-mel case (default: the pretrained backbone).
        freeze: Keep the backbone's weights fixed (log-mel case).
    """

    def __init__(self, observation_space: spaces.Dict, backbone_path: str | None = None, freeze: bool = False) -> None:
        n_roles = observation_space["presence"].shape[0]
        self.embedded = len(observation_space["mix"].shape) == 1
        backbone = None if self.embedded else artifacts.backbone(backbone_path).module
        d = observation_space["mix"].shape[0] if self.embedded else backbone.embedding_dim
        signals = n_roles + 1 + ("reference" in observation_space.spaces)
        match = observation_space["match"].shape[0] if "match" in observation_space.spaces else 0
        super().__init__(observation_space, signals * d + observation_space["settings"].shape[0] + n_roles + match)
        self.has_reference = "reference" in observation_space.spaces
        self.has_match = match > 0
        self.n_roles, self.d = n_roles, d
        if backbone is not None:
            self.backbone = backbone
            self.backbone.requires_grad_(not freeze)

    def forward(self, obs: dict[str, torch.Tensor]) -> torch.Tensor:
        keys = ["stems", "mix"] + (["reference"] if self.has_reference else [])
        if self.embedded:
            parts = [obs[k].flatten(1) for k in keys]
        else:
            batch = obs["mix"].shape[0]
            stems = from_uint8(obs["stems"]).flatten(0, 1)[:, None].expand(-1, 2, -1, -1)  # (batch * roles, 2, F, T)
            stem_embeddings = self.backbone(stems).embedding.reshape(batch, self.n_roles, self.d)
            parts = [(stem_embeddings * obs["presence"][..., None]).flatten(1)]
            parts += [self.backbone(from_uint8(obs[k])).embedding for k in keys[1:]]
        extras = [obs["match"]] if self.has_match else []
        return torch.cat([*parts, obs["settings"], obs["presence"], *extras], dim=1)
