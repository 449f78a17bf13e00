"""Fréchet Audio Distance (FAD) on backbone frame embeddings, for rewards and for set-level evaluation.

A set of frame embeddings is summarised by a Gaussian (mean and covariance); FAD is the Fréchet distance between
two such Gaussians (Kilgour et al., 2019). One 4 s clip gives only ~43 frames of 128 dimensions, so a single
mix's covariance is estimated with Oracle-Approximating Shrinkage (OAS, Chen et al., 2010), which stays
well-conditioned for n < D. FAD is biased upwards at small sample sizes; :func:`evaluate_fad` also reports
FAD-∞, the intercept of a linear fit of FAD against 1/N over random subsets (Chong & Forsyth, 2020; Gui et al.,
2024), which compares sets of different sizes fairly.

The linear algebra runs in torch (float64) rather than numpy: interleaved with the backbone's forward pass, numpy's
OpenBLAS threads and torch's OpenMP threads fight over the cores and a reward call gets about 4x slower.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch

from mixenv.backbone import AudioEmbedder
from mixenv.features import FeatureConfig
from rewards.base import ScoreContext

DEFAULT_SUBSET_FRACTIONS: tuple[float, ...] = (0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0)
"""Subset sizes for FAD-∞, as fractions of the evaluated set."""


@dataclass(frozen=True)
class GaussianStats:
    """Mean ``(D,)``, covariance ``(D, D)`` and sample count of a set of embeddings."""

    mean: np.ndarray
    cov: np.ndarray
    n: int

    def __post_init__(self) -> None:
        mean, cov = np.asarray(self.mean, dtype=np.float64), np.asarray(self.cov, dtype=np.float64)
        if mean.ndim != 1 or cov.shape != (mean.size, mean.size):
            raise ValueError(f"GaussianStats needs mean (D,) and cov (D, D), got {mean.shape} and {cov.shape}")
        if not (np.isfinite(mean).all() and np.isfinite(cov).all()):
            raise ValueError("GaussianStats got non-finite mean or covariance; check the embeddings for NaN")
        object.__setattr__(self, "mean", mean)
        object.__setattr__(self, "cov", cov)

    @classmethod
    def fit(cls, embeddings: np.ndarray, *, shrink: bool = True) -> GaussianStats:
        """Estimate the Gaussian of ``embeddings`` ``(n, D)``.

        Args:
            embeddings: One embedding per row.
            shrink: Use the OAS shrinkage covariance (stable for few rows); False gives the plain maximum-likelihood
                covariance, whose known 1/n bias is what FAD-∞ extrapolates away.

        Raises:
            ValueError: If ``embeddings`` is not a non-empty finite 2-D array.
        """
        x = np.asarray(embeddings, dtype=np.float64)
        if x.ndim != 2 or x.shape[0] == 0:
            raise ValueError(f"embeddings must be shaped (n >= 1, D), got {x.shape}")
        if not np.isfinite(x).all():
            raise ValueError("embeddings contain NaN or infinite values; check the audio fed to the embedder")
        rows = torch.tensor(x)
        centred = rows - rows.mean(dim=0)
        cov = (centred.T @ centred / x.shape[0]).numpy()
        return cls(x.mean(axis=0), oas_shrink(cov, x.shape[0]) if shrink else cov, x.shape[0])

    @functools.cached_property
    def cov_sqrt(self) -> torch.Tensor:
        """Symmetric square root of the covariance (negative round-off eigenvalues clipped), computed once."""
        eigenvalues, vectors = torch.linalg.eigh(_symmetric(torch.tensor(self.cov)))
        return (vectors * eigenvalues.clamp_min(0.0).sqrt()) @ vectors.T


def oas_shrink(cov: np.ndarray, n: float) -> np.ndarray:
    """Oracle-Approximating Shrinkage of a maximum-likelihood covariance ``cov`` estimated from ``n`` samples (or a
    weighted one, ``n`` the weights' effective sample size).

    Shrinks towards ``trace(cov) / D * I`` by the closed-form OAS coefficient (as in scikit-learn's ``oas``).
    """
    d = cov.shape[0]
    mu = float(np.trace(cov)) / d
    alpha = float(np.mean(cov**2))
    denominator = (n + 1) * (alpha - mu**2 / d)
    shrinkage = 1.0 if denominator <= 0 else min((alpha + mu**2) / denominator, 1.0)
    return (1.0 - shrinkage) * cov + shrinkage * mu * np.eye(d)


def frechet_distance(a: GaussianStats, b: GaussianStats) -> float:
    """Fréchet distance ``|μa − μb|² + tr(Ca) + tr(Cb) − 2 tr((Ca Cb)^½)`` between two Gaussians, ≥ 0, finite.

    ``tr((Ca Cb)^½)`` is the sum of square roots of the eigenvalues of the symmetric PSD matrix
    ``Ca^½ Cb Ca^½``, computed by symmetric eigendecompositions with negative round-off clipped to 0: no
    complex parts and no NaN, also for singular (rank-deficient) covariances. ``a``'s square root is cached, so
    pass the fixed statistics (the good mixes) as ``a`` when comparing many sets against them.

    Raises:
        ValueError: If the two have different dimensions.
    """
    if a.mean.shape != b.mean.shape:
        raise ValueError(f"cannot compare Gaussians of dimension {a.mean.size} and {b.mean.size}")
    root_a = a.cov_sqrt
    cross = torch.linalg.eigvalsh(_symmetric(root_a @ torch.tensor(b.cov) @ root_a))
    trace_sqrt = float(cross.clamp_min(0.0).sqrt().sum())
    diff = a.mean - b.mean
    distance = float(diff @ diff) + float(np.trace(a.cov)) + float(np.trace(b.cov)) - 2.0 * trace_sqrt
    return max(distance, 0.0)


@dataclass(frozen=True)
class FADEstimate:
    """Set-level FAD of some embeddings against reference statistics.

    Attributes:
        fad: FAD of the whole set (plain covariance).
        fad_inf: FAD-∞, the intercept of the fit ``FAD = fad_inf + slope / N``.
        slope: The fit's slope (the small-sample bias per 1/N).
        sizes: Subset sizes N used for the fit.
        values: Mean FAD over the random subsets of each size.
    """

    fad: float
    fad_inf: float
    slope: float
    sizes: tuple[int, ...]
    values: tuple[float, ...]


def evaluate_fad(
    reference: GaussianStats,
    embeddings: np.ndarray,
    *,
    fractions: Sequence[float] = DEFAULT_SUBSET_FRACTIONS,
    repeats: int = 3,
    seed: int = 0,
) -> FADEstimate:
    """FAD and FAD-∞ of ``embeddings`` ``(n, D)`` (e.g. pooled frame embeddings of a set of mixes) vs ``reference``.

    For each subset size ``N = fraction * n``, the FAD of ``repeats`` random subsets (drawn without replacement,
    seeded) is averaged; FAD-∞ is the intercept of the least-squares line of those means against 1/N.

    Raises:
        ValueError: If the set is too small for two distinct subset sizes.
    """
    x = np.asarray(embeddings, dtype=np.float64)
    sizes = sorted({round(f * x.shape[0]) for f in fractions if round(f * x.shape[0]) >= 2})
    if len(sizes) < 2:
        raise ValueError(f"FAD-∞ needs at least two subset sizes of >= 2 rows; got {x.shape[0]} rows, use more")
    rng = np.random.default_rng(seed)
    values = []
    for size in sizes:
        draws = [x[rng.choice(x.shape[0], size, replace=False)] for _ in range(repeats if size < x.shape[0] else 1)]
        values.append(float(np.mean([frechet_distance(reference, GaussianStats.fit(d, shrink=False)) for d in draws])))
    fad_inf, slope = extrapolate_fad(sizes, values)
    fad = frechet_distance(reference, GaussianStats.fit(x, shrink=False))
    return FADEstimate(fad, fad_inf, slope, tuple(sizes), tuple(values))


def extrapolate_fad(sizes: Sequence[int], values: Sequence[float]) -> tuple[float, float]:
    """Fit ``FAD(N) = intercept + slope / N`` by least squares; returns ``(intercept, slope)`` (intercept = FAD-∞)."""
    inverse = 1.0 / np.asarray(sizes, dtype=np.float64)
    slope, intercept = np.polyfit(inverse, np.asarray(values, dtype=np.float64), 1)
    return float(intercept), float(slope)


KAD_SCALE = 1000.0
"""KAD is reported times 1000, as kadtk reports it (the raw MMD of embeddings is a small number)."""


def kernel_audio_distance(
    embeddings: np.ndarray,
    reference: np.ndarray,
    *,
    bandwidth: float | None = None,
    scale: float = KAD_SCALE,
    paired: bool = False,
) -> float:
    """Kernel Audio Distance (Chung et al. 2025, as kadtk computes it): the unbiased estimate of the squared maximum
    mean discrepancy between two sets of embeddings ``(n, D)`` and ``(m, D)`` under a Gaussian kernel
    ``exp(-|x - y|^2 / (2 bandwidth^2))``, times ``scale``.

    Unlike FAD it assumes no Gaussian, is unbiased at any set size (no FAD-∞ extrapolation needed) and converges
    with fewer samples. 0 (up to sampling noise, which can make it slightly negative) for sets from one
    distribution; larger as they part. ``bandwidth`` defaults to the median pairwise distance within ``reference``
    (the median heuristic).

    ``paired``: row ``i`` of both sets comes from one item (a method's mix of song ``i`` and that song's reference).
    The two-sample estimate then runs below 0, since each mix sits nearer its own reference than the sets' spread
    (a set against itself gives ``-2/n`` of the mean kernel gap); the paired U-statistic leaves those ``(i, i)``
    cross pairs out as it leaves out ``(i, i)`` within each set, so it is unbiased again and exactly 0 for
    identical sets.

    Raises:
        ValueError: For sets of fewer than two rows or of different dimensions, or paired sets of unequal sizes.
    """
    x, y = np.asarray(embeddings, dtype=np.float64), np.asarray(reference, dtype=np.float64)
    if x.ndim != 2 or y.ndim != 2 or x.shape[1] != y.shape[1] or min(x.shape[0], y.shape[0]) < 2:
        raise ValueError(f"KAD needs two sets of >= 2 embeddings of one dimension, got {x.shape} and {y.shape}")
    if paired and x.shape != y.shape:
        raise ValueError(f"paired KAD needs one embedding per item in both sets, got {x.shape} and {y.shape}")
    yy = _squared_distances(y, y)
    if bandwidth is None:
        bandwidth = float(np.median(np.sqrt(yy[np.triu_indices(y.shape[0], 1)]))) or 1.0
    gamma = 1.0 / (2.0 * bandwidth**2)
    kxx, kyy, kxy = (np.exp(-gamma * d) for d in (_squared_distances(x, x), yy, _squared_distances(x, y)))
    n, m = x.shape[0], y.shape[0]
    within_x = (kxx.sum() - np.trace(kxx)) / (n * (n - 1))
    within_y = (kyy.sum() - np.trace(kyy)) / (m * (m - 1))
    between = (kxy.sum() - np.trace(kxy)) / (n * (n - 1)) if paired else kxy.mean()
    return float(scale * (within_x + within_y - 2.0 * between))


def _squared_distances(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.maximum((a**2).sum(1)[:, None] + (b**2).sum(1)[None] - 2.0 * a @ b.T, 0.0)


def mix_embeddings(embedder: AudioEmbedder, mix: np.ndarray, context: ScoreContext) -> tuple[np.ndarray, np.ndarray]:
    """Clip embedding ``(D,)`` and frame embeddings ``(T, D)`` of ``mix``: one backbone pass per mix and backbone.

    ``embedder`` must be at the context's sample rate (:meth:`AudioEmbedder.at_rate`). Non-finite samples are zeroed
    first, so a broken mix still gets a finite score.
    """

    def logmel(audio: np.ndarray) -> torch.Tensor:
        clean = audio if np.isfinite(audio).all() else np.nan_to_num(audio, nan=0.0, posinf=0.0, neginf=0.0)
        return embedder.features(clean)

    def embed(audio: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        # The log-mel is memoised under a shared key: the env, which computed it for its observation, provides it.
        embedding, frames = embedder.embed_features(context.mix_value(audio, embedder.features_key, logmel))
        return embedding[0], frames[0]

    return context.mix_value(mix, embedder.embedding_key, embed)


class FADReward:
    """Reward: minus the FAD of a mix's frame embeddings against the statistics of good mixes.

    Reference-free: it asks "does this sound like the good mixes the statistics came from", not "like this song's
    reference". A single clip covers little of the good-mix distribution, so even good clips score well below 0
    (about -20 for 4 s clips with the default backbone; clipped ones about -240): only differences matter.

    Args:
        embedder: The backbone the statistics were computed with (mixes at other rates get their own front end).
        stats: Gaussian of good mixes' frame embeddings (:class:`rewards.goodmix.GoodMixModel` holds one).
    """

    name = "fad"
    needs_reference = False

    def __init__(self, embedder: AudioEmbedder, stats: GaussianStats) -> None:
        if stats.mean.size != embedder.embedding_dim:
            raise ValueError(
                f"FAD statistics have dimension {stats.mean.size} but the backbone embeds into "
                f"{embedder.embedding_dim}; compute the statistics with this backbone"
            )
        self.embedder = embedder
        self.stats = stats

    @property
    def features(self) -> FeatureConfig:
        """The log-mel configuration the backbone reads."""
        return self.embedder.logmel.config

    def score(self, mix: np.ndarray, context: ScoreContext) -> float:
        """``-FAD`` of ``mix`` ``(channels, samples)``: 0 is best, always finite."""
        _, frames = mix_embeddings(self.embedder.at_rate(context.sample_rate), mix, context)
        return -frechet_distance(self.stats, GaussianStats.fit(frames))


def _symmetric(matrix: torch.Tensor) -> torch.Tensor:
    return 0.5 * (matrix + matrix.T)
