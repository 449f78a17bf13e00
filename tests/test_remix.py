"""Remixes: the wide prior covers its stated ranges, every remix's reference reproduces exactly from its settings,
and each variation (re-colouring, dropped roles, sample rate) does what it says and can be switched off."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from mixenv.data import Multitrack, list_songs
from mixenv.loudness import integrated_lufs, peak_dbfs
from mixenv.params import ParamSpace
from mixenv.remix import BALANCE_LU, RemixConfig, recolour, remix, wide_settings
from mixenv.render import Renderer

from conftest import SR, band_db, noise, tone

SPACE = ParamSpace()
PLAIN = RemixConfig(recolour=False, drop_role=0.0)
TRUTH = RemixConfig(wide=0.0, recolour=False, drop_role=0.0)


@pytest.fixture(scope="module")
def stems() -> dict[str, np.ndarray]:
    return {
        "vocals": tone(440, 2.0, 0.1),
        "drums": noise(2.0, 0.05, channels=2, seed=1),
        "bass": tone(80, 2.0, 0.2),
        "other": noise(2.0, 0.02, channels=2, seed=2),
    }


@pytest.fixture(scope="module")
def draws(stems: dict[str, np.ndarray]) -> list:
    return [wide_settings(np.random.default_rng(i), stems, SR, SPACE) for i in range(60)]


@pytest.mark.parametrize(
    ("control", "low", "high"),
    [
        ("other.pan", -0.8, 0.8),
        ("drums.low_shelf_db", -8.0, 8.0),
        ("bass.mid_db", -8.0, 8.0),
        ("vocals.high_shelf_db", -8.0, 8.0),
        ("vocals.hpf_hz", 20.0, 300.0),
        ("drums.comp_ratio", 1.0, 8.0),
        ("master_low_shelf_db", -6.0, 6.0),
        ("master_limiter_db", -12.0, 0.0),
    ],
)
def test_the_wide_prior_covers_its_stated_range(draws: list, control: str, low: float, high: float) -> None:
    values = np.array([s[control] for s in draws])
    assert values.min() >= low - 1e-6 and values.max() <= high + 1e-6
    span = high - low if not control.endswith("_hz") else np.log(high / low)
    spread = values.max() - values.min() if not control.endswith("_hz") else np.log(values.max() / values.min())
    assert spread > 0.6 * span  # drawn across the range, not around one value


def test_the_wide_prior_draws_the_balance_not_the_fader(stems: dict[str, np.ndarray], draws: list) -> None:
    renderer = Renderer(SR)
    offsets = []
    for settings in draws[:30]:
        if any(settings[f"{role}.gain_db"] in (-24.0, 12.0) for role in stems):
            continue  # a fader at its end cannot reach the drawn balance
        processed = renderer.render(stems, settings, return_stems=True).stems
        levels = {role: integrated_lufs(audio, SR) for role, audio in processed.items()}
        offsets += [levels[role] - levels["vocals"] for role in ("drums", "bass", "other")]
    assert BALANCE_LU[0] - 1.0 <= min(offsets) and max(offsets) <= BALANCE_LU[1] + 1.0
    assert len(offsets) >= 30 and np.std(offsets) > 3.0


def test_a_remix_reproduces_exactly_from_its_settings(tiny_corpus: Path) -> None:
    song = list_songs("synthetic", tiny_corpus)[0].load()
    made = remix(song, np.random.default_rng(0), RemixConfig(), SPACE)
    np.testing.assert_array_equal(Renderer(made.sample_rate).render(made.stems, made.settings).mix, made.reference)
    again = remix(song, np.random.default_rng(0), RemixConfig(), SPACE)
    np.testing.assert_array_equal(again.reference, made.reference)  # same generator, same remix


def test_the_truth_keeps_the_songs_own_settings_where_it_has_one(tiny_corpus: Path) -> None:
    song = list_songs("synthetic", tiny_corpus)[0].load()
    made = remix(song, np.random.default_rng(0), TRUTH, SPACE)
    assert made.settings == song.settings
    np.testing.assert_allclose(made.reference, song.reference, atol=1e-4)  # the reference file is 16-bit
    assert remix(_without_truth(song), np.random.default_rng(0), TRUTH, SPACE).settings != song.settings  # wide


def test_a_share_of_remixes_is_mixed_wide(tiny_corpus: Path) -> None:
    song = list_songs("synthetic", tiny_corpus)[0].load()
    half = RemixConfig(wide=0.5, recolour=False, drop_role=0.0)
    kept = [remix(song, np.random.default_rng(i), half, SPACE).settings == song.settings for i in range(40)]
    assert 10 <= sum(kept) <= 30


def test_dropped_roles_keep_the_lead_and_two_stems(tiny_corpus: Path) -> None:
    song = list_songs("synthetic", tiny_corpus)[0].load()
    kept = [
        remix(song, np.random.default_rng(i), RemixConfig(recolour=False, drop_role=0.9), SPACE).roles
        for i in range(12)
    ]
    assert all("vocals" in roles and len(roles) >= 2 for roles in kept)
    assert min(len(roles) for roles in kept) == 2
    assert all(len(r) == 4 for r in (remix(song, np.random.default_rng(i), PLAIN, SPACE).roles for i in range(3)))


def test_remixes_at_other_sample_rates(tiny_corpus: Path) -> None:
    song = list_songs("synthetic", tiny_corpus)[0].load()
    made = remix(song, np.random.default_rng(0), RemixConfig(recolour=False, sample_rates=(48_000,)), SPACE)
    assert made.sample_rate == 48_000 and made.num_samples == round(song.num_samples * 48_000 / SR)


def test_recolouring_changes_the_tone_and_sets_a_tracking_level() -> None:
    audio = noise(2.0, 0.1, seed=3)
    coloured = [recolour(audio, SR, np.random.default_rng(i)) for i in range(8)]
    tilts = [band_db(c, SR, 4_000, 10_000) - band_db(c, SR, 100, 400) for c in coloured]
    assert np.std(tilts) > 2.0  # each draw leaves another tonal balance
    assert all(-20.5 <= peak_dbfs(c) <= -2.5 and c.shape == audio.shape and c.dtype == np.float32 for c in coloured)


def _without_truth(song: Multitrack) -> Multitrack:
    return Multitrack(song.name, song.sample_rate, dict(song.stems), song.reference, None, song.source)
