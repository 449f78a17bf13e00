"""The descriptors the anomaly detector reads: of a mix alone, and of a mix against the stems it was made from."""

from __future__ import annotations

import numpy as np
import pedalboard
import pytest
from scipy.signal import butter, sosfilt

from rewards.descriptors import (
    BALANCE_DESCRIPTORS,
    DESCRIPTORS,
    MIX_DESCRIPTORS,
    StemSummary,
    describe,
    describe_mix,
    mix_spectrogram,
)

from conftest import SR, noise, tone

BANDS = [i for i, name in enumerate(MIX_DESCRIPTORS) if name.startswith("band_")]
LEAD, LOUDEST, QUIETEST = (DESCRIPTORS.index(name) for name in BALANCE_DESCRIPTORS)


def distinct_stems(seconds: float = 2.0) -> dict[str, np.ndarray]:
    """Four stems of distinct spectra and rhythms, 1 or 2 channels: a vocal-like tone, a bass, noise hits, a stereo
    band of noise."""
    t = np.arange(round(seconds * SR)) / SR
    beat = (np.mod(t, 0.5) < 0.1).astype(np.float32)
    return {
        "vocals": (tone(440, seconds, 0.2) + tone(880, seconds, 0.05)) * (0.6 + 0.4 * np.sin(2 * np.pi * 1.5 * t)),
        "bass": tone(70, seconds, 0.3) * (1 - 0.5 * beat),
        "drums": noise(seconds, 0.1, seed=1) * beat,
        "other": sosfilt(
            butter(2, [300, 3000], "bandpass", fs=SR, output="sos"), noise(seconds, 0.2, channels=2, seed=2)
        ).astype(np.float32),
    }


def played_sum(stems: dict[str, np.ndarray], gains_db: dict[str, float] | None = None) -> np.ndarray:
    """The stems summed in stereo (mono ones in both channels, as a centre pan at unity plays them), at their gains."""
    gains_db = gains_db or {}
    return sum(np.broadcast_to(a, (2, a.shape[1])) * 10 ** (gains_db.get(r, 0.0) / 20) for r, a in stems.items())


def test_the_plain_sum_against_its_own_stems_describes_as_zero() -> None:
    stems = distinct_stems()
    described = describe(played_sum(stems), SR, StemSummary.of(stems, SR))
    np.testing.assert_allclose(described[: len(MIX_DESCRIPTORS)], 0.0, atol=1e-3)
    np.testing.assert_allclose(described[len(MIX_DESCRIPTORS) :], 0.0, atol=0.1)  # stems overlap in a few bins


def test_descriptors_against_stems_do_not_change_with_gain() -> None:
    stems = distinct_stems()
    mix = played_sum(stems, {"vocals": 4.0, "drums": -6.0})
    quiet = {role: 0.1 * audio for role, audio in stems.items()}
    expected = describe(mix, SR, StemSummary.of(stems, SR))
    np.testing.assert_allclose(describe(0.3 * mix, SR, StemSummary.of(stems, SR)), expected, atol=1e-3)
    np.testing.assert_allclose(describe(0.1 * mix, SR, StemSummary.of(quiet, SR)), expected, atol=1e-3)


def test_one_colour_on_every_stem_cancels_out() -> None:
    """A recording's colour (here a 6 dB/oct low-pass at 1 kHz on every stem) moves the mix's tonal balance by many
    dB; measured against the stems, which share it, it moves the balance by a fraction of a dB."""
    low_pass = butter(1, 1000, "lowpass", fs=SR, output="sos")
    stems = distinct_stems()
    dull = {role: sosfilt(low_pass, audio).astype(np.float32) for role, audio in stems.items()}
    gains = {"vocals": 3.0, "bass": -4.0}
    bright_mix, dull_mix = played_sum(stems, gains), played_sum(dull, gains)
    alone = np.abs(describe_mix(dull_mix, SR)[BANDS] - describe_mix(bright_mix, SR)[BANDS])
    against = np.abs(
        describe(dull_mix, SR, StemSummary.of(dull, SR)) - describe(bright_mix, SR, StemSummary.of(stems, SR))
    )
    assert alone.max() > 5.0 and against[BANDS].max() < 1.0


def test_balance_finds_a_missing_lead_and_a_boosted_stem() -> None:
    stems = distinct_stems()
    summary = StemSummary.of(stems, SR)
    no_lead = describe(played_sum(stems, {"vocals": -200.0}), SR, summary)
    boosted = describe(played_sum(stems, {"drums": 15.0}), SR, summary)
    assert no_lead[LEAD] < -25.0 and no_lead[QUIETEST] < -25.0  # the floor is -40 dB re the loudest
    assert boosted[LOUDEST] == pytest.approx(15.0, abs=1.5) and abs(boosted[LEAD]) < 1.5


def test_silent_stems_sit_out_and_mono_counts_as_both_channels() -> None:
    stems = distinct_stems()
    mix = played_sum(stems, {"vocals": 5.0})
    expected = describe(mix, SR, StemSummary.of(stems, SR))
    with_silence = stems | {"keys": np.zeros_like(stems["bass"])}
    np.testing.assert_allclose(describe(mix, SR, StemSummary.of(with_silence, SR)), expected, atol=1e-6)
    stereo_bass = stems | {"bass": np.repeat(stems["bass"], 2, axis=0)}
    np.testing.assert_allclose(describe(mix, SR, StemSummary.of(stereo_bass, SR)), expected, atol=1e-6)


def test_a_song_without_a_lead_or_with_one_stem_has_neutral_balance_values() -> None:
    stems = distinct_stems()
    no_vocals = {role: audio for role, audio in stems.items() if role != "vocals"}
    assert describe(played_sum(no_vocals), SR, StemSummary.of(no_vocals, SR))[LEAD] == 0.0
    solo = {"bass": stems["bass"]}
    assert (describe(played_sum(solo, {"bass": 6.0}), SR, StemSummary.of(solo, SR))[-3:] == 0.0).all()


def test_mismatched_stems_and_mixes_are_refused() -> None:
    stems = distinct_stems()
    with pytest.raises(ValueError, match="stems differ in length"):
        StemSummary.of(stems | {"bass": stems["bass"][:, :-100]}, SR)
    with pytest.raises(ValueError, match="at least one stem"):
        StemSummary.of({}, SR)
    with pytest.raises(ValueError, match="describe a mix against the stems of the same clip"):
        describe(played_sum(stems)[:, :SR], SR, StemSummary.of(stems, SR))


def test_descriptors_from_a_shared_spectrogram_equal_their_own_and_wrong_shapes_are_refused() -> None:
    mix = noise(2.0, 0.1, channels=2, seed=3)
    spectra = mix_spectrogram(mix, SR)
    np.testing.assert_array_equal(describe_mix(mix, SR, spectra), describe_mix(mix, SR))
    with pytest.raises(ValueError, match="mix_spectrogram"):
        describe_mix(mix, SR, spectra[:, :-1])


def test_descriptors_do_not_change_with_gain() -> None:
    mix = np.concatenate([tone(220, 2.0, 0.2), noise(2.0, 0.05, seed=3)]) + noise(2.0, 0.02, channels=2, seed=4)
    np.testing.assert_allclose(describe_mix(mix * 0.25, SR), describe_mix(mix, SR), atol=1e-5)  # float32 STFT


def test_a_bus_low_shelf_on_music_without_bass_tilts_the_bottom_octave_though_the_lows_barely_move() -> None:
    """A choir: voices from 196 Hz up over a faint room. A +12 dB shelf at 100 Hz lifts its lows (30-250 Hz) by
    little, as little as the good mixes' own EQ does; the low-end shape moves by several dB."""
    voices = {
        "vocals": tone(392, 2.0, 0.2) + tone(784, 2.0, 0.05),
        "other": tone(262, 2.0, 0.15) + tone(330, 2.0, 0.1),
        "bass": tone(196, 2.0, 0.15) + noise(2.0, 0.002, seed=5),
    }
    mix = played_sum(voices)
    shelf = pedalboard.Pedalboard([pedalboard.LowShelfFilter(cutoff_frequency_hz=100, gain_db=12)])(mix, SR)
    summary = StemSummary.of(voices, SR)
    moved = describe(shelf, SR, summary) - describe(mix, SR, summary)
    lows = DESCRIPTORS.index("band_30_250_hz_re_rest_db_re_stems")
    tilt = next(i for i, name in enumerate(DESCRIPTORS) if name.startswith("low_tilt_"))
    assert moved[lows] < 1.5 and moved[tilt] > 3.0


def test_bus_compression_breaks_the_link_between_lows_and_mids() -> None:
    t = np.arange(2 * SR) / SR
    kick = 0.8 * np.sin(2 * np.pi * 60 * t) * (np.mod(t, 0.5) < 0.12)
    mix = np.stack([kick + tone(1000, 2.0, 0.1)[0]] * 2).astype(np.float32)
    squeeze = pedalboard.Compressor(threshold_db=-35, ratio=10, attack_ms=5, release_ms=50)
    column = MIX_DESCRIPTORS.index("corr_low_mid_level")
    plain, pumped = describe_mix(mix, SR)[column], describe_mix(squeeze(mix, SR), SR)[column]
    assert plain > 0.2 and pumped < -0.5  # every kick ducks the steady mid tone


def test_high_flux_is_large_for_attacks_and_small_for_steady_noise() -> None:
    steady = noise(2.0, 0.1, channels=2, seed=1)
    hats = steady * (np.mod(np.arange(2 * SR) / SR, 0.25) < 0.03) + 1e-3 * steady
    column = MIX_DESCRIPTORS.index("log_high_flux_90_db")
    assert np.exp(describe_mix(hats, SR)[column]) - 0.1 > 20.0  # dB jumps at each attack
    assert np.exp(describe_mix(steady, SR)[column]) - 0.1 < 1.0


@pytest.mark.parametrize(
    ("left_gain", "right_gain", "low", "high"),
    [(1.0, 1.0, 0.999, 1.001), (1.0, 0.0, 0.0, 0.001), (1.0, 0.3, 0.0, 0.001)],
)
def test_centre_share_counts_energy_panned_to_the_centre(
    left_gain: float, right_gain: float, low: float, high: float
) -> None:
    source = noise(2.0, 0.1)
    mix = np.concatenate([source * left_gain, source * right_gain])
    share = np.exp(describe_mix(mix, SR)[MIX_DESCRIPTORS.index("log_centre_share_300_4000_hz")]) - 1e-4
    assert low <= share <= high


def test_centre_share_of_independent_channels_is_small() -> None:
    share = np.exp(describe_mix(noise(2.0, 0.1, channels=2), SR)[MIX_DESCRIPTORS.index("log_centre_share_300_4000_hz")])
    assert share < 0.25


def test_crest_factor_of_a_sine_is_3_db() -> None:
    assert describe_mix(tone(440, 1.0, 0.5, channels=2), SR)[MIX_DESCRIPTORS.index("crest_db")] == pytest.approx(
        3.01, abs=0.02
    )
