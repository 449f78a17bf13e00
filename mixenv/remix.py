"""Remixing a multitrack under settings drawn from a wide prior: exact training targets for any stems (FxNorm-style).

A song's stems, re-coloured (each through a random tilt, resonance, band limit, drive and level, as another
recording would have made it), with some roles left out and perhaps at another sample rate, are rendered under
settings drawn independently and widely for every control (:func:`wide_settings`): each role's loudness relative to
the lead anywhere from -12 to +3 LU, shelves and mid bands up to +-8 dB at any frequency, any high-pass, compression
from none to 20 dB deep, any pan, and the master bus likewise. The rendered mix is the reference and the drawn
settings the target, exactly, whatever the stems came from (the synthetic corpus, MUSDB18-HQ, MedleyDB, a folder):
nothing but the reference says what the settings are, so a model trained on remixes must read it.

Every switch can be turned off (:class:`RemixConfig`), so an ablation can say what each one buys.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import pedalboard
import scipy.signal

from mixenv.data import Multitrack
from mixenv.loudness import integrated_lufs, peak_dbfs
from mixenv.params import MixSettings, ParamSpace
from mixenv.render import Renderer

LEAD = "vocals"
BALANCE_LU = (-12.0, 3.0)
"""A non-lead role's loudness relative to the lead's, drawn uniformly."""
LEAD_LUFS = (-30.0, -16.0)


@dataclass(frozen=True)
class RemixConfig:
    """How training examples are remixed from a song.

    Attributes:
        wide: The share of remixes whose settings are drawn from the wide prior; the others keep the song's own
            ground truth (songs without one are always remixed wide). 0 measures the other switches alone.
        recolour: Re-colour and re-level every stem before mixing (timbre and recording variation).
        drop_role: The chance that each present role other than the lead is left out (at least two roles stay).
        sample_rates: Resample each remix to one of these rates, drawn per remix; empty keeps the song's rate.
    """

    wide: float = 1.0
    recolour: bool = True
    drop_role: float = 0.2
    sample_rates: tuple[int, ...] = ()

    def __post_init__(self) -> None:
        if not 0.0 <= self.wide <= 1.0:
            raise ValueError(f"wide must be a share in [0, 1], got {self.wide}")
        if not 0.0 <= self.drop_role < 1.0:
            raise ValueError(f"drop_role must be in [0, 1), got {self.drop_role}")
        if any(rate < 16_000 for rate in self.sample_rates):
            raise ValueError(f"sample rates must be at least 16000 Hz, got {self.sample_rates}")


def remix(song: Multitrack, rng: np.random.Generator, config: RemixConfig, space: ParamSpace) -> Multitrack:
    """A new training example from ``song``: its stems varied as ``config`` says, a reference rendered from them, and
    the settings that made it.

    The draw of the prior comes first, so a song's remixes keep their settings' kind whatever else changes.
    """
    wide = song.settings is None or rng.random() < config.wide
    stems = dict(song.stems)
    droppable = [role for role in stems if role != LEAD]
    for role in droppable:
        if len(stems) > 2 and rng.random() < config.drop_role:
            del stems[role]
    rate = song.sample_rate
    if config.sample_rates:
        target = int(rng.choice(config.sample_rates))
        stems = {role: _resample(audio, rate, target) for role, audio in stems.items()}
        rate = target
    if config.recolour:
        stems = {role: recolour(audio, rate, rng) for role, audio in stems.items()}
    settings = wide_settings(rng, stems, rate, space) if wide else song.settings
    assert settings is not None
    reference = Renderer(rate, space.roles).render(stems, settings).mix
    return Multitrack(song.name, rate, stems, reference, settings, song.source)


def wide_settings(
    rng: np.random.Generator, stems: Mapping[str, np.ndarray], sample_rate: int, space: ParamSpace
) -> MixSettings:
    """Settings drawn independently and widely for every control of the present roles and the master bus.

    Faders are set from the processed stems' measured loudness, so the balance (not the raw fader value, which
    depends on how hot a stem was recorded) is what is drawn.
    """
    strips = {role: _wide_strip(rng, stems[role]) for role in stems}
    processed = Renderer(sample_rate, tuple(stems)).render(stems, space.from_dict(strips, {}), return_stems=True).stems
    lead_lufs = rng.uniform(*LEAD_LUFS)
    lead = LEAD if LEAD in stems else next(iter(stems))
    bus = np.zeros((2, next(iter(stems.values())).shape[1]))
    for role, audio in processed.items():
        target = lead_lufs + (0.0 if role == lead else rng.uniform(*BALANCE_LU))
        gain_db = float(np.clip(target - integrated_lufs(audio, sample_rate), -24.0, 12.0))
        strips[role]["gain_db"] = gain_db
        bus += audio * 10 ** (gain_db / 20)
    master = {
        "master_low_shelf_db": rng.uniform(-6.0, 6.0),
        "master_high_shelf_db": rng.uniform(-6.0, 6.0),
        "master_comp_threshold_db": peak_dbfs(bus) - rng.uniform(0.0, 12.0),
        "master_comp_ratio": log_uniform(rng, 1.0, 4.0),
        "master_limiter_db": rng.uniform(-12.0, 0.0),
    }
    return space.from_dict(strips, master)


def recolour(audio: np.ndarray, sample_rate: int, rng: np.random.Generator) -> np.ndarray:
    """``audio`` ``(channels, samples)`` as another recording might have made it: a random tilt, resonance, band
    limit, a little drive, and a tracking level; float32, peaking between -20 and -3 dBFS."""
    plugins: list[pedalboard.Plugin] = [
        pedalboard.LowShelfFilter(cutoff_frequency_hz=log_uniform(rng, 80.0, 400.0), gain_db=rng.normal(0.0, 4.0)),
        pedalboard.HighShelfFilter(
            cutoff_frequency_hz=log_uniform(rng, 2_000.0, 8_000.0), gain_db=rng.normal(0.0, 4.0)
        ),
        pedalboard.PeakFilter(
            cutoff_frequency_hz=log_uniform(rng, 200.0, 5_000.0),
            gain_db=rng.uniform(-6.0, 8.0),
            q=rng.uniform(0.7, 3.0),
        ),
    ]
    if rng.random() < 0.3:
        plugins.append(
            pedalboard.LowpassFilter(cutoff_frequency_hz=min(log_uniform(rng, 4_000.0, 12_000.0), 0.45 * sample_rate))
        )
    y = pedalboard.Pedalboard(plugins)(np.ascontiguousarray(audio, dtype=np.float32), sample_rate).astype(np.float64)
    drive = rng.uniform(0.0, 12.0) if rng.random() < 0.3 else 0.0
    peak = max(float(np.max(np.abs(y))), 1e-9)
    if drive:
        y = np.tanh(y / peak * 10 ** (drive / 20))
        peak = max(float(np.max(np.abs(y))), 1e-9)
    return (y * 10 ** (rng.uniform(-20.0, -3.0) / 20) / peak).astype(np.float32)


def _wide_strip(rng: np.random.Generator, audio: np.ndarray) -> dict[str, float]:
    return {
        "pan": rng.uniform(-0.8, 0.8),
        "hpf_hz": log_uniform(rng, 20.0, 300.0),
        "low_shelf_db": rng.uniform(-8.0, 8.0),
        "mid_freq_hz": log_uniform(rng, 200.0, 6_000.0),
        "mid_db": rng.uniform(-8.0, 8.0),
        "high_shelf_db": rng.uniform(-8.0, 8.0),
        "comp_threshold_db": peak_dbfs(audio) - rng.uniform(0.0, 20.0),
        "comp_ratio": log_uniform(rng, 1.0, 8.0),
    }


def _resample(audio: np.ndarray, rate: int, target: int) -> np.ndarray:
    if rate == target:
        return audio
    divisor = np.gcd(rate, target)
    return scipy.signal.resample_poly(audio, target // divisor, rate // divisor, axis=-1).astype(np.float32)


def log_uniform(rng: np.random.Generator, low: float, high: float) -> float:
    """A draw whose logarithm is uniform between ``log(low)`` and ``log(high)`` (frequencies, ratios)."""
    return float(np.exp(rng.uniform(np.log(low), np.log(high))))
