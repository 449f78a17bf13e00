"""Multi-resolution STFT distance to a reference mix (auraloss).

Resolutions follow Diff-MST (Steinmetz et al., 2024): FFT sizes 512, 2048 and 8192 with 50% hops, which covers
transients and bass at once; the terms are auraloss's standard spectral convergence plus log-magnitude distance.
0 means identical; a 6 dB level error on everything reads 1.2 (too quiet) to 1.7 (too loud).
"""

from __future__ import annotations

import auraloss
import numpy as np
import torch

FFT_SIZES: tuple[int, ...] = (512, 2048, 8192)


class SpectralDistance:
    """Multi-resolution STFT distance between two ``(channels, samples)`` signals; lower is closer.

    Args:
        fft_sizes: STFT sizes; hops are half of each, windows equal to each.
    """

    name = "spectral"

    def __init__(self, fft_sizes: tuple[int, ...] = FFT_SIZES) -> None:
        self.loss = auraloss.freq.MultiResolutionSTFTLoss(
            fft_sizes=list(fft_sizes),
            hop_sizes=[n // 2 for n in fft_sizes],
            win_lengths=list(fft_sizes),
        )

    def distance(self, audio: np.ndarray, reference: np.ndarray) -> float:
        """Distance of ``audio`` from ``reference`` (same shape); stereo against mono compares each channel."""
        if audio.shape[-1] != reference.shape[-1]:
            raise ValueError(f"signals differ in length: {audio.shape[-1]} vs {reference.shape[-1]} samples")
        x, y = (torch.tensor(a, dtype=torch.float32)[None] for a in np.broadcast_arrays(audio, reference))
        with torch.inference_mode():
            return float(self.loss(x, y))

    def score(self, mix: np.ndarray, reference: np.ndarray) -> float:
        """Reward form: the negative distance (higher is better, 0 at the reference)."""
        return -self.distance(mix, reference)
