"""The five corruptions do what their names say, with numbers, and nothing at strength 0."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from mixenv.data import Multitrack, list_songs
from mixenv.loudness import integrated_lufs, peak_dbfs
from mixenv.params import MixSettings, ParamSpace
from mixenv.render import Renderer
from rewards.corrupt import CORRUPTIONS, bus_compression, bus_low_shelf, clipping, muted_lead, stem_boost

from conftest import SR, band_db


@pytest.fixture
def neutral() -> MixSettings:
    return ParamSpace().neutral()


@pytest.fixture(scope="module")
def song(tiny_corpus: Path) -> Multitrack:
    return list_songs("synthetic", tiny_corpus)[0].load()


def _loudness_range_db(mix: np.ndarray) -> float:
    """Spread of 50 ms block energies (95th minus 10th percentile), in dB: the short-term dynamics."""
    blocks = np.mean(mix, axis=0)[: mix.shape[1] // 1102 * 1102].reshape(-1, 1102)
    energy_db = 10 * np.log10(np.mean(blocks**2, axis=1) + 1e-12)
    return float(np.percentile(energy_db, 95) - np.percentile(energy_db, 10))


def _stem_gains(stems: dict[str, np.ndarray], settings: MixSettings, mix: np.ndarray) -> dict[str, float]:
    """Least-squares gain of each processed stem in ``mix`` (exact while the neutral master bus is linear)."""
    processed = Renderer(SR).process_stems(stems, settings)
    design = np.stack([p.ravel() for p in processed.values()], axis=1)
    gains = np.linalg.lstsq(design, mix.ravel(), rcond=None)[0]
    return dict(zip(processed, gains, strict=True))


def test_corruptions_are_the_five_named_defects() -> None:
    assert list(CORRUPTIONS) == ["stem_boost", "muted_lead", "clipping", "bus_low_shelf", "bus_compression"]


@pytest.mark.parametrize("strength", [0.5, 1.0])
def test_stem_boost_raises_that_stem_by_15_db_times_strength(four_stems, neutral, strength: float) -> None:
    mix = stem_boost(four_stems, neutral, Renderer(SR), np.random.default_rng(0), strength, role="bass")
    gains = _stem_gains(four_stems, neutral, mix)
    expected = {"vocals": 1.0, "drums": 1.0, "bass": 10 ** (15 * strength / 20), "other": 1.0}
    np.testing.assert_allclose([gains[r] for r in expected], list(expected.values()), rtol=1e-3)


def test_stem_boost_draws_the_stem_from_the_rng(four_stems, neutral) -> None:
    boosted = {
        max(gains, key=gains.get)
        for seed in range(8)
        for gains in [
            _stem_gains(four_stems, neutral, stem_boost(four_stems, neutral, Renderer(SR), np.random.default_rng(seed)))
        ]
    }
    assert len(boosted) >= 2


@pytest.mark.parametrize(("strength", "vocal_gain"), [(0.5, 0.5), (1.0, 0.0)])
def test_muted_lead_scales_the_vocals_down(four_stems, neutral, strength: float, vocal_gain: float) -> None:
    gains = _stem_gains(
        four_stems, neutral, muted_lead(four_stems, neutral, Renderer(SR), np.random.default_rng(0), strength)
    )
    np.testing.assert_allclose(
        [gains[r] for r in ("vocals", "drums", "bass", "other")], [vocal_gain, 1, 1, 1], atol=1e-3
    )


def test_muted_lead_at_full_strength_leaves_no_vocal_energy(four_stems, neutral) -> None:
    without = {role: audio for role, audio in four_stems.items() if role != "vocals"}
    renderer = Renderer(SR)
    mix = muted_lead(four_stems, neutral, renderer, np.random.default_rng(0), 1.0)
    np.testing.assert_allclose(mix, renderer.render(without, neutral).mix, atol=1e-6)


def test_clipping_produces_samples_at_exactly_full_scale(song: Multitrack) -> None:
    mix = clipping(song.stems, song.settings, Renderer(SR), np.random.default_rng(0), 1.0)
    assert np.abs(mix).max() == 1.0
    assert np.count_nonzero(np.abs(mix) == 1.0) > 100
    assert peak_dbfs(song.reference) < -0.9  # the clean mix never reaches full scale


def test_bus_low_shelf_raises_the_lows_only(song: Multitrack) -> None:
    mix = bus_low_shelf(song.stems, song.settings, Renderer(SR), np.random.default_rng(0), 1.0)
    assert band_db(mix, SR, 20, 100) - band_db(song.reference, SR, 20, 100) > 6.0
    assert abs(band_db(mix, SR, 1000, 5000) - band_db(song.reference, SR, 1000, 5000)) < 1.5


def test_bus_compression_halves_the_short_term_dynamics_at_equal_loudness(song: Multitrack) -> None:
    mix = bus_compression(song.stems, song.settings, Renderer(SR), np.random.default_rng(0), 1.0)
    assert _loudness_range_db(mix) < 0.6 * _loudness_range_db(song.reference)
    assert integrated_lufs(mix, SR) == pytest.approx(integrated_lufs(song.reference, SR), abs=0.15)


@pytest.mark.parametrize("name", ["stem_boost", "muted_lead", "clipping", "bus_low_shelf"])
def test_strength_zero_is_the_clean_render(song: Multitrack, name: str) -> None:
    mix = CORRUPTIONS[name](song.stems, song.settings, Renderer(SR), np.random.default_rng(0), 0.0)
    np.testing.assert_allclose(mix, song.reference, atol=1e-4)


@pytest.mark.parametrize("strength", [-0.1, 1.5])
def test_strength_outside_unit_interval_is_refused(four_stems, neutral, strength: float) -> None:
    with pytest.raises(ValueError, match=r"strength must be in \[0, 1\]"):
        clipping(four_stems, neutral, Renderer(SR), np.random.default_rng(0), strength)


def test_muted_lead_without_vocals_is_refused(four_stems, neutral) -> None:
    instrumental = {role: audio for role, audio in four_stems.items() if role != "vocals"}
    with pytest.raises(ValueError, match="needs a 'vocals' stem"):
        muted_lead(instrumental, neutral, Renderer(SR), np.random.default_rng(0), 1.0)
