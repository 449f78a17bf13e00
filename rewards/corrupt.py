"""Five named mix defects, at a controllable strength, to test that rewards and detectors notice bad mixes.

Each corruption is ``corrupt(stems, settings, renderer, rng, strength) -> mix`` ``(2, samples)``: it renders
``stems`` under ``settings`` with ``renderer`` but with one defect added; ``strength`` in [0, 1] interpolates from
the clean render (0) to the named defect (1):

==================  ====================================================================================
``stem_boost``      one stem (drawn from ``rng``) +15 dB after its fader
``muted_lead``      the vocals faded out (strength 1: removed)
``clipping``        the mix driven +12 dB into a hard clip at ±1 (no limiter after it)
``bus_low_shelf``   the bus low shelf (100 Hz) moved to +12 dB
``bus_compression`` the bus compressor moved to -35 dBFS threshold, ratio 10, then level-matched to the clean
                    mix's loudness so that loudness alone does not give it away
==================  ====================================================================================
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping

import numpy as np

from mixenv.loudness import integrated_lufs
from mixenv.params import MixSettings
from mixenv.render import Renderer
from rewards.descriptors import LEAD_ROLE

Corruption = Callable[[Mapping[str, np.ndarray], MixSettings, Renderer, np.random.Generator, float], np.ndarray]

STEM_BOOST_DB = 15.0
CLIP_DRIVE_DB = 12.0
LOW_SHELF_DB = 12.0
COMP_THRESHOLD_DB = -35.0
COMP_RATIO = 10.0


def stem_boost(
    stems: Mapping[str, np.ndarray],
    settings: MixSettings,
    renderer: Renderer,
    rng: np.random.Generator,
    strength: float = 1.0,
    *,
    role: str | None = None,
) -> np.ndarray:
    """One stem ``15 * strength`` dB louder after its fader; the stem is ``role``, or drawn from ``rng``."""
    _check_strength(strength)
    role = role if role is not None else str(rng.choice(sorted(stems)))
    if role not in stems:
        raise ValueError(f"cannot boost stem {role!r}: the song has {', '.join(stems)}")
    return _remix(stems, settings, renderer, {role: 10 ** (STEM_BOOST_DB * strength / 20)})


def muted_lead(
    stems: Mapping[str, np.ndarray],
    settings: MixSettings,
    renderer: Renderer,
    rng: np.random.Generator,
    strength: float = 1.0,
) -> np.ndarray:
    """The vocals' level scaled by ``1 - strength`` (removed at strength 1)."""
    _check_strength(strength)
    if LEAD_ROLE not in stems:
        raise ValueError(f"muted_lead needs a {LEAD_ROLE!r} stem, but the song has {', '.join(stems)}")
    return _remix(stems, settings, renderer, {LEAD_ROLE: 1.0 - strength})


def clipping(
    stems: Mapping[str, np.ndarray],
    settings: MixSettings,
    renderer: Renderer,
    rng: np.random.Generator,
    strength: float = 1.0,
) -> np.ndarray:
    """The rendered mix driven ``12 * strength`` dB and hard-clipped at ±1."""
    _check_strength(strength)
    mix = renderer.render(stems, settings).mix
    return np.clip(mix * np.float32(10 ** (CLIP_DRIVE_DB * strength / 20)), -1.0, 1.0).astype(np.float32)


def bus_low_shelf(
    stems: Mapping[str, np.ndarray],
    settings: MixSettings,
    renderer: Renderer,
    rng: np.random.Generator,
    strength: float = 1.0,
) -> np.ndarray:
    """The bus low shelf moved ``strength`` of the way from its setting to +12 dB."""
    _check_strength(strength)
    shelf_db = _towards(settings["master_low_shelf_db"], LOW_SHELF_DB, strength)
    return renderer.render(stems, settings.replace({"master_low_shelf_db": shelf_db})).mix


def bus_compression(
    stems: Mapping[str, np.ndarray],
    settings: MixSettings,
    renderer: Renderer,
    rng: np.random.Generator,
    strength: float = 1.0,
) -> np.ndarray:
    """The bus compressor moved ``strength`` of the way to -35 dBFS / 10:1, then matched to the clean loudness.

    The level match goes through the renderer's own loudness normalisation (drive into the limiter), so the
    result stays under the same ceiling as the clean mix and within 0.1 LU of its loudness.
    """
    _check_strength(strength)
    clean_lufs = integrated_lufs(renderer.render(stems, settings).mix, renderer.sample_rate)
    threshold_db = _towards(settings["master_comp_threshold_db"], COMP_THRESHOLD_DB, strength)
    ratio = math.exp(_towards(math.log(settings["master_comp_ratio"]), math.log(COMP_RATIO), strength))
    squashed = settings.replace({"master_comp_threshold_db": threshold_db, "master_comp_ratio": ratio})
    matcher = Renderer(renderer.sample_rate, renderer.roles, target_lufs=clean_lufs, ceiling_db=renderer.ceiling_db)
    return matcher.render(stems, squashed).mix


CORRUPTIONS: dict[str, Corruption] = {
    "stem_boost": stem_boost,
    "muted_lead": muted_lead,
    "clipping": clipping,
    "bus_low_shelf": bus_low_shelf,
    "bus_compression": bus_compression,
}
"""Corruption name -> function, in a fixed order."""


def _remix(
    stems: Mapping[str, np.ndarray], settings: MixSettings, renderer: Renderer, gains: Mapping[str, float]
) -> np.ndarray:
    """Render with some processed stems scaled by linear ``gains`` before the bus."""
    processed = renderer.process_stems(stems, settings)
    bus = np.zeros_like(next(iter(processed.values())))
    for role, stem in processed.items():
        bus += stem * np.float32(gains.get(role, 1.0))
    return renderer.master(bus, settings).mix


def _towards(value: float, target: float, strength: float) -> float:
    return value + strength * (target - value)


def _check_strength(strength: float) -> None:
    if not 0.0 <= strength <= 1.0:
        raise ValueError(f"corruption strength must be in [0, 1], got {strength}")
