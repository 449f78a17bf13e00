"""A conditional VAE over mix settings given the stems, to sample several plausible mixes (``--model cvae``).

Much of a mix is not fixed by its stems: how loud the lead sits, which side the ``other`` stem goes, where a
mid-band cut lands on a stem with no resonance to fix. A deterministic model predicts the average of such
choices (a centred ``other``, a compromise EQ); a CVAE (Sohn et al., 2015) draws them.

* Condition ``c``: the stems' clip embeddings (the shared backbone, as in ``cnn``) and presence, through an MLP.
  Not the reference: the variations are different mixes of the stems, not reconstructions of one mix.
* Prior ``p(z | c)`` and posterior ``q(z | c, y)`` (which also sees the settings ``y``): diagonal Gaussians of
  ``latent_dim`` dimensions. Decoder ``(z, c) -> y`` through tanh.
* Loss: masked MSE of ``decode(z ~ q)`` plus ``beta`` times KL(q || p) (``beta`` weighs the KL, in nats, against
  the squared error averaged over controls; a Gaussian likelihood of standard deviation ``s`` gives
  ``beta = 2 s^2 / params``, so 0.002 is ``s`` of about 0.2 normalised units), with *free bits* (Kingma et al.,
  2016): each latent dimension's KL, averaged over the batch, costs nothing up to ``free_bits`` nats. Without
  them the posterior collapsed onto the prior (samples differing by 0.01 normalised units): a few hundred songs
  with one mix each make the KL cost of carrying information larger than the squared error it saves.

``forward`` decodes the prior's mean: the single most typical mix, so a CVAE trains, evaluates and acts in
MixEnv like the deterministic models; :meth:`SettingsCVAE.sample` draws variations, which
:mod:`supervised.variations` measures and scores.
"""

from __future__ import annotations

import torch
from torch import nn

from supervised.inputs import ModelInputs
from supervised.models.base import Encoded, MixModel, masked_loss
from supervised.models.config import ModelConfig
from supervised.models.layers import mlp

_LOGVAR_RANGE = (-8.0, 4.0)
"""Log-variances are clamped here: keeps the KL and the samples finite early in training."""


class SettingsCVAE(MixModel):
    """Conditional VAE over normalised settings, conditioned on the stems (see the module docstring)."""

    def __init__(self, config: ModelConfig, backbone: nn.Module) -> None:
        super().__init__(config, backbone)
        d, width, latent, params = self.embedding_dim, config.width, config.latent_dim, self.space.size
        self.stem_norm = nn.LayerNorm(d)
        self.condition = nn.Sequential(
            mlp(self.n_roles * (d + 1), width, config.depth, width, config.dropout), nn.GELU()
        )
        self.prior = nn.Linear(width, 2 * latent)
        self.posterior = mlp(width + params, width, 1, 2 * latent, config.dropout)
        self.decoder = mlp(width + latent, width, config.depth, params, config.dropout)

    def forward(
        self, stems: torch.Tensor, presence: torch.Tensor, reference: torch.Tensor | None = None
    ) -> torch.Tensor:
        """The most typical settings ``(batch, params)``: the decoded prior mean (the reference is not used)."""
        self.check_inputs(stems, presence, reference)
        return super().forward(stems, presence)

    def settings_logits(self, encoded: Encoded, presence: torch.Tensor) -> torch.Tensor:
        condition = self._condition(encoded, presence)
        mean, _ = self._gaussian(self.prior(condition))
        return self.decoder(torch.cat([condition, mean], dim=-1))

    def sample(
        self, stems: torch.Tensor, presence: torch.Tensor, n: int, generator: torch.Generator | None = None
    ) -> torch.Tensor:
        """``n`` settings ``(batch, n, params)`` in [-1, 1] drawn from the prior given the stems."""
        self.check_inputs(stems, presence, None)
        condition = self._condition(self.encode(stems, presence, None), presence)
        mean, logvar = self._gaussian(self.prior(condition))
        noise = torch.randn((*mean.shape[:1], n, mean.shape[1]), generator=generator)
        z = mean[:, None] + (0.5 * logvar).exp()[:, None] * noise
        return torch.tanh(self.decoder(torch.cat([condition[:, None].expand(-1, n, -1), z], dim=-1)))

    def training_loss(
        self, inputs: ModelInputs, targets: torch.Tensor, masks: torch.Tensor, loss: str = "mse"
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Reconstruction through the posterior (sampled in training, its mean in eval) plus ``beta`` * KL.

        Returns the loss and the prior-mean predictions (what :meth:`forward` gives), for validation metrics.
        """
        self.check_inputs(inputs.stems, inputs.presence, None)
        condition = self._condition(self.encode(inputs.stems, inputs.presence, None), inputs.presence)
        prior_mean, prior_logvar = self._gaussian(self.prior(condition))
        post_mean, post_logvar = self._gaussian(self.posterior(torch.cat([condition, targets * masks], dim=-1)))
        z = post_mean + (0.5 * post_logvar).exp() * torch.randn_like(post_mean) if self.training else post_mean
        reconstruction = torch.tanh(self.decoder(torch.cat([condition, z], dim=-1)))
        kl = 0.5 * (
            prior_logvar - post_logvar + (post_logvar.exp() + (post_mean - prior_mean) ** 2) / prior_logvar.exp() - 1
        )
        kl_per_dim = kl.mean(dim=0).clamp_min(self.config.free_bits)  # free bits: the first nats of each are free
        total = masked_loss(reconstruction, targets, masks, loss) + self.config.beta * kl_per_dim.sum()
        predictions = torch.tanh(self.decoder(torch.cat([condition, prior_mean], dim=-1)))
        return total, predictions

    def _condition(self, encoded: Encoded, presence: torch.Tensor) -> torch.Tensor:
        stems = self.stem_norm(encoded.stems.embedding) * presence[..., None]
        return self.condition(torch.cat([stems.flatten(1), presence], dim=1))

    @staticmethod
    def _gaussian(parameters: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        mean, logvar = parameters.chunk(2, dim=-1)
        return mean, logvar.clamp(*_LOGVAR_RANGE)
