"""Self-supervised pretraining of the shared backbone on mix style; the default backbone it made ships with mixenv.

The embedding feeds a FAD reward, an anomaly detector and models that predict mix settings, so it must encode
the *mix* (balance, EQ, dynamics, loudness), not the song. Plain song-identity contrastive learning would learn
the opposite. We follow DeepAFx-ST (Steinmetz et al., 2022) instead: every training song is rendered under
several settings (its ground truth, perturbations of it and a few random ones); two time crops of the *same
rendered mix* form a positive pair and every other crop in the batch is a negative, deliberately including the
other mixes of the same song at the same time positions (identical notes, different mix). NT-Xent on a small
projection head (discarded afterwards, as in SimCLR) then only pays off for features of the mix.

Validation, on held-out songs rendered the same way: top-1 retrieval (is the nearest other crop, by cosine
similarity of the clip embedding, the other crop of the same mix?) and a ridge probe predicting the normalised
settings from clip embeddings (R²), each for the trained backbone and for the untrained one with the same seed.
Both go into the checkpoint's ``training`` metadata.

Run ``python -m mixenv.pretrain --help``. The package sits above the core it trains (:mod:`mixenv.backbone`,
rendering, features) and below the artefacts and the env: ``config`` (the recipe), ``bank`` (rendered mixes),
``contrastive`` (objective and loop), ``probes`` (validation), ``run`` (:func:`pretrain_backbone`), ``default`` (the
shipped default backbone, its record and the recipe's rerun), ``__main__`` (the command line).
"""

from __future__ import annotations

from mixenv.pretrain.config import DEFAULT_PRETRAIN, PRETRAIN_VERSION, PretrainConfig
from mixenv.pretrain.run import pretrain_backbone, pretrain_on_corpus

__all__ = ["DEFAULT_PRETRAIN", "PRETRAIN_VERSION", "PretrainConfig", "pretrain_backbone", "pretrain_on_corpus"]
