"""Classic mixing baselines, each a :class:`~agents.policies.MixPolicy` like a trained agent.

* ``neutral``: unity settings; the mix is the plain sum of the stems.
* ``loudness``: each stem to a role loudness (vocals on top), then the bus to -14 LUFS (the streaming norm).
* ``reference``: matchering-style mastering of the plain sum toward the reference: its long-term spectrum
  (fitted with the bus shelves) and its loudness.
* ``cmaes``: a per-song gradient-free optimiser (CMA-ES, pycma) of the env's own reward, with a fixed budget of
  renders. It sees the reward, hence the reference: an upper-bound-style baseline, not a fair competitor.

Each decides its settings once, at the start of the episode, and repeats them.
"""

from __future__ import annotations

import abc
from collections.abc import Mapping
from typing import TYPE_CHECKING

import cma
import numpy as np
import scipy.signal

from mixenv.loudness import SILENCE_LUFS, integrated_lufs
from mixenv.mastering import drive_to_loudness
from mixenv.params import MixSettings
from mixenv.render import MASTER_HIGH_SHELF_HZ, MASTER_LOW_SHELF_HZ, SHELF_Q

if TYPE_CHECKING:
    from mixenv.env import MixEnv

ROLE_LUFS: Mapping[str, float] = {"vocals": -20.0, "drums": -22.0, "bass": -22.0, "other": -24.0}
"""Loudness of each stem in a balanced mix: the lead on top, the rhythm section close, the rest under them."""
BUS_LUFS = -14.0


class _FixedPolicy(abc.ABC):
    """Decides its settings at reset and repeats them; subclasses implement :meth:`decide`."""

    name = "fixed"

    def __init__(self) -> None:
        self.action: np.ndarray | None = None

    def reset(self, env: MixEnv) -> None:
        self.action = self.decide(env).normalized()

    def act(self, observation: dict[str, np.ndarray], env: MixEnv) -> np.ndarray:
        if self.action is None:
            raise RuntimeError(f"{self.name}: reset(env) must come before act()")
        return self.action

    @abc.abstractmethod
    def decide(self, env: MixEnv) -> MixSettings:
        """The settings for the current episode's clip."""


class NeutralPolicy(_FixedPolicy):
    """Unity gain, centre, flat, no compression: the raw sum."""

    name = "neutral"

    def decide(self, env: MixEnv) -> MixSettings:
        return env.space.neutral()


class LoudnessBalancePolicy(_FixedPolicy):
    """Stems to :data:`ROLE_LUFS`, then the bus to ``bus_lufs`` by the limiter (or by all faders, if too loud)."""

    name = "loudness"

    def __init__(self, bus_lufs: float = BUS_LUFS) -> None:
        super().__init__()
        self.bus_lufs = bus_lufs

    def decide(self, env: MixEnv) -> MixSettings:
        clip = env.clip
        gains = {}
        for role, stem in clip.stems.items():
            level = integrated_lufs(stem, clip.sample_rate)
            if level > SILENCE_LUFS:
                gains[f"{role}.gain_db"] = ROLE_LUFS.get(role, -24.0) - level
        return _to_loudness(env, env.space.neutral().replace(gains), self.bus_lufs)


class ReferenceMatchPolicy(_FixedPolicy):
    """Match the plain sum's long-term spectrum (bus shelves) and loudness (faders, limiter) to the reference."""

    name = "reference"

    def decide(self, env: MixEnv) -> MixSettings:
        clip = env.clip
        if clip.reference is None:
            raise ValueError(f"song {clip.name!r} has no reference; the reference-matching heuristic needs one")
        rate = clip.sample_rate
        settings = env.space.neutral()
        freqs, difference_db = _spectrum_difference_db(env.render_settings(settings).mix, clip.reference, rate)
        low, high = _fit_shelves(freqs, difference_db, rate)
        settings = settings.replace({"master_low_shelf_db": low, "master_high_shelf_db": high})
        return _to_loudness(env, settings, integrated_lufs(clip.reference, rate))


class CMAESPolicy(_FixedPolicy):
    """CMA-ES over the normalised settings, maximising the env's reward on the clip, ``budget`` renders per song.

    Args:
        budget: Renders (reward evaluations) per song.
        sigma: Initial step size in normalised units.
        seed: Seeds the optimiser (the same seed gives the same settings).
    """

    name = "cmaes"

    def __init__(self, budget: int = 200, sigma: float = 0.3, seed: int = 0) -> None:
        super().__init__()
        if budget < 2:
            raise ValueError(f"CMA-ES needs a budget of at least 2 renders, got {budget}")
        self.budget, self.sigma, self.seed = budget, sigma, seed

    def decide(self, env: MixEnv) -> MixSettings:
        options = {"bounds": [-1.0, 1.0], "maxfevals": self.budget, "seed": self.seed + 1, "verbose": -9}
        strategy = cma.CMAEvolutionStrategy(env.space.neutral_vector().astype(np.float64), self.sigma, options)
        while not strategy.stop():
            candidates = strategy.ask()
            strategy.tell(candidates, [-env.reward.total(env.score_settings(np.asarray(x))) for x in candidates])
        best = strategy.result.xbest
        return env.space.to_physical(np.asarray(best if best is not None else env.space.neutral_vector()))


HEURISTICS: Mapping[str, type[_FixedPolicy]] = {
    p.name: p for p in (NeutralPolicy, LoudnessBalancePolicy, ReferenceMatchPolicy, CMAESPolicy)
}


def _to_loudness(env: MixEnv, settings: MixSettings, target_lufs: float) -> MixSettings:
    """Reach ``target_lufs`` at the output of ``env``'s current clip (the limiter first, then the faders)."""

    def render(candidate: MixSettings) -> np.ndarray:  # the mix the env itself would produce
        return env.render_settings(candidate).mix

    return drive_to_loudness(render, settings, env.clip.roles, env.clip.sample_rate, target_lufs)


def _spectrum_difference_db(mix: np.ndarray, reference: np.ndarray, sample_rate: int) -> tuple[np.ndarray, np.ndarray]:
    """Reference minus mix, in dB, of the long-term (Welch) spectra on a third-octave grid from 40 Hz to 10 kHz."""
    nperseg = 4096
    freqs, mix_power = scipy.signal.welch(mix.mean(axis=0), sample_rate, nperseg=nperseg)
    _, ref_power = scipy.signal.welch(reference.mean(axis=0), sample_rate, nperseg=nperseg)
    centres = 40.0 * 2 ** (np.arange(0, 28) / 3)
    centres = centres[centres < min(10_000.0, 0.45 * sample_rate)]
    difference = []
    for centre in centres:
        band = (freqs >= centre / 2 ** (1 / 6)) & (freqs < centre * 2 ** (1 / 6))
        difference.append(10 * np.log10((ref_power[band].sum() + 1e-20) / (mix_power[band].sum() + 1e-20)))
    return centres, np.asarray(difference)


def _shelf_response_db(kind: str, freqs: np.ndarray, sample_rate: int, gain_db: float = 6.0) -> np.ndarray:
    """Magnitude response (dB) of the bus shelf of ``kind`` at ``gain_db``, from the same biquad as the renderer."""
    import pedalboard

    plugin = (pedalboard.LowShelfFilter if kind == "low" else pedalboard.HighShelfFilter)(
        cutoff_frequency_hz=MASTER_LOW_SHELF_HZ if kind == "low" else MASTER_HIGH_SHELF_HZ, gain_db=gain_db, q=SHELF_Q
    )
    impulse = np.zeros((1, 8192), np.float32)
    impulse[0, 0] = 1.0
    response = np.abs(np.fft.rfft(plugin(impulse, sample_rate)[0]))
    grid = np.fft.rfftfreq(8192, 1 / sample_rate)
    return np.interp(freqs, grid, 20 * np.log10(np.maximum(response, 1e-9)))


def _fit_shelves(freqs: np.ndarray, difference_db: np.ndarray, sample_rate: int) -> tuple[float, float]:
    """Least-squares shelf gains (plus a free overall offset, left to the loudness match) for a dB difference."""
    basis = np.stack(
        [
            np.ones_like(freqs),
            _shelf_response_db("low", freqs, sample_rate) / 6,
            _shelf_response_db("high", freqs, sample_rate) / 6,
        ],
        axis=1,
    )
    (_, low, high), *_ = np.linalg.lstsq(basis, difference_db, rcond=None)
    return float(np.clip(low, -12, 12)), float(np.clip(high, -12, 12))
