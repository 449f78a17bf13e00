"""Loudness reward (BS.1770 via pyloudnorm): closeness to a LUFS target or to the reference's loudness."""

from __future__ import annotations

import numpy as np

from mixenv.loudness import SILENCE_LUFS
from rewards.base import ScoreContext


class LoudnessReward:
    """Minus the absolute loudness error in LU: 0 at the target, -1 per LU away.

    Args:
        target_lufs: A fixed target (reference-free mastering, e.g. -14 for streaming); ``None`` matches the
            reference's integrated loudness instead.
        max_error_lu: Errors are capped here, so a silent mix scores badly but finitely.
    """

    name = "loudness"

    def __init__(self, target_lufs: float | None = None, max_error_lu: float = 40.0) -> None:
        if target_lufs is not None and not SILENCE_LUFS < target_lufs < 0:
            raise ValueError(f"target_lufs must be in ({SILENCE_LUFS}, 0) LUFS or None, got {target_lufs}")
        self.target_lufs = target_lufs
        self.max_error_lu = max_error_lu

    @property
    def needs_reference(self) -> bool:
        """True when matching the reference's loudness rather than a fixed target."""
        return self.target_lufs is None

    def score(self, mix: np.ndarray, context: ScoreContext) -> float:
        target = context.reference_lufs() if self.target_lufs is None else self.target_lufs
        return -min(abs(context.mix_lufs(mix) - target), self.max_error_lu)
