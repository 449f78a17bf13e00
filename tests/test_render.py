"""The channel strip and master bus, tested for their physics with numbers."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from mixenv.loudness import integrated_lufs, peak_dbfs, rms_dbfs
from mixenv.params import ParamSpace
from mixenv.render import Renderer, high_pass_gain, pan_gains, render, through_bus_shelves

from conftest import SR, band_db, noise, tone

SPACE = ParamSpace()
NEUTRAL = SPACE.neutral()


def _one(audio: np.ndarray, changes: dict[str, float] | None = None, sr: int = SR, **kwargs) -> np.ndarray:
    """Render ``audio`` as the vocals stem alone under neutral settings plus ``changes``."""
    return render({"vocals": audio}, NEUTRAL.replace(changes or {}), sr, **kwargs).mix


@pytest.mark.parametrize("sr", [22_050, 44_100])
def test_plus_six_db_gain_gives_plus_six_db_rms(sr: int) -> None:
    audio = noise(1.0, 0.02, sr=sr)
    gained = _one(audio, {"vocals.gain_db": 6.0}, sr)
    assert rms_dbfs(gained) - rms_dbfs(_one(audio, sr=sr)) == pytest.approx(6.0, abs=0.1)


@pytest.mark.parametrize("freq_hz", [200.0, 1000.0, 8000.0])
def test_neutral_keeps_a_stereo_stem_level_above_the_subsonic_filter(freq_hz: float) -> None:
    audio = tone(freq_hz, 1.0, 0.2, channels=2)
    out = render({"other": audio}, NEUTRAL, SR).mix
    for channel in range(2):
        assert rms_dbfs(out[channel, 4000:]) == pytest.approx(rms_dbfs(audio[channel, 4000:]), abs=0.05)


def test_low_shelf_boost_raises_energy_below_its_corner_only() -> None:
    audio = noise(2.0, 0.01)
    flat, boosted = _one(audio), _one(audio, {"vocals.low_shelf_db": 9.0})
    assert band_db(boosted, SR, 30, 80) - band_db(flat, SR, 30, 80) > 7.0
    assert abs(band_db(boosted, SR, 2000, 8000) - band_db(flat, SR, 2000, 8000)) < 0.3


def test_high_shelf_cut_lowers_energy_above_its_corner_only() -> None:
    audio = noise(2.0, 0.01)
    flat, cut = _one(audio), _one(audio, {"vocals.high_shelf_db": -9.0})
    assert band_db(flat, SR, 8000, 11000) - band_db(cut, SR, 8000, 11000) > 7.0
    assert abs(band_db(cut, SR, 50, 500) - band_db(flat, SR, 50, 500)) < 0.3


def test_mid_band_boosts_at_its_centre() -> None:
    audio = noise(2.0, 0.01)
    flat, boosted = _one(audio), _one(audio, {"vocals.mid_freq_hz": 1000.0, "vocals.mid_db": 8.0})
    assert band_db(boosted, SR, 900, 1100) - band_db(flat, SR, 900, 1100) == pytest.approx(8.0, abs=1.0)
    assert abs(band_db(boosted, SR, 7000, 10000) - band_db(flat, SR, 7000, 10000)) < 0.5


def test_high_pass_cuts_an_octave_below_and_keeps_octaves_above() -> None:
    changes = {"vocals.hpf_hz": 200.0}
    low = tone(100, 1.0, 0.1)
    high = tone(1600, 1.0, 0.1)
    assert rms_dbfs(_one(low)[:, 4000:]) - rms_dbfs(_one(low, changes)[:, 4000:]) > 7.0
    assert rms_dbfs(_one(high)[:, 4000:]) - rms_dbfs(_one(high, changes)[:, 4000:]) < 0.5


def test_high_pass_is_minus_three_db_at_its_corner() -> None:
    audio = tone(300, 1.0, 0.1)
    loss_db = rms_dbfs(_one(audio)[:, 4000:]) - rms_dbfs(_one(audio, {"vocals.hpf_hz": 300.0})[:, 4000:])
    assert loss_db == pytest.approx(3.0, abs=0.5)


@pytest.mark.parametrize("freq_hz", [50.0, 100.0, 200.0, 400.0, 1600.0])
def test_high_pass_gain_is_what_the_strips_high_pass_does(freq_hz: float) -> None:
    """:func:`high_pass_gain` (what the tone match weighs a stem's bands by) is the strip's high-pass: a tone loses
    what it says between a corner of 20 Hz and one of 200 Hz, to 0.2 dB, from two octaves below to three above."""
    audio = tone(freq_hz, 1.0, 0.1)
    loss_db = rms_dbfs(_one(audio)[:, 4000:]) - rms_dbfs(_one(audio, {"vocals.hpf_hz": 200.0})[:, 4000:])
    expected_db = 20 * np.log10(high_pass_gain(20.0, freq_hz) / high_pass_gain(200.0, freq_hz))
    assert loss_db == pytest.approx(expected_db, abs=0.2)


def test_hard_left_pan_silences_the_right_channel() -> None:
    out = _one(tone(440, 1.0, 0.3), {"vocals.pan": -1.0})
    assert peak_dbfs(out[1]) < -60.0
    assert rms_dbfs(out[0]) == pytest.approx(rms_dbfs(tone(440, 1.0, 0.3)) + 3.0, abs=0.1)


def test_pan_is_constant_power() -> None:
    for pan in np.linspace(-1, 1, 9):
        left, right = pan_gains(float(pan))
        assert left**2 + right**2 == pytest.approx(2.0)
    assert pan_gains(0.0) == pytest.approx((1.0, 1.0))


def test_hard_right_balances_a_stereo_stem_to_its_right_channel() -> None:
    audio = noise(1.0, 0.05, channels=2)
    out = render({"drums": audio}, NEUTRAL.replace({"drums.pan": 1.0}), SR).mix
    assert peak_dbfs(out[0]) < -60.0


def test_mono_stem_becomes_centred_stereo() -> None:
    out = _one(tone(440, 1.0, 0.1))
    assert out.shape == (2, SR)
    np.testing.assert_array_equal(out[0], out[1])


def _drum_hits(seconds: float = 2.0) -> np.ndarray:
    """Decaying noise bursts, four per second, peaking near -6 dBFS."""
    n = round(seconds * SR)
    env = np.exp(-(np.arange(n) % (SR // 4)) / (0.03 * SR))
    return (0.15 * env * np.random.default_rng(0).standard_normal(n))[None].astype(np.float32)


def _loud_and_soft(seconds: float = 2.0) -> np.ndarray:
    """A tone alternating between loud and soft every 250 ms, with 50 ms ramps a compressor can follow."""
    t = np.arange(round(seconds * SR)) / SR
    steps = np.where((t * 4).astype(int) % 2 == 0, 0.4, 0.04)
    ramp = np.hanning(round(0.05 * SR))
    envelope = np.convolve(steps, ramp / ramp.sum(), mode="same")
    return (envelope * np.sin(2 * np.pi * 440 * t))[None].astype(np.float32)


def _crest_db(audio: np.ndarray) -> float:
    """Peak-to-RMS ratio, skipping the first 50 ms, where a compressor's detector is still starting up."""
    audio = audio[:, SR // 20 :]
    return peak_dbfs(audio) - rms_dbfs(audio)


def test_compression_lowers_crest_factor() -> None:
    audio = _loud_and_soft()
    squashed = _one(audio, {"vocals.comp_threshold_db": -30.0, "vocals.comp_ratio": 8.0})
    assert _crest_db(_one(audio)) - _crest_db(squashed) > 1.0  # a sine cannot go below 3 dB; this one starts at 6


def test_compression_narrows_the_loud_to_soft_gap() -> None:
    audio = _loud_and_soft()
    quarter = SR // 4
    squashed = _one(audio, {"vocals.comp_threshold_db": -30.0, "vocals.comp_ratio": 8.0})
    loud, soft = squashed[:, quarter - 2000 : quarter], squashed[:, 2 * quarter - 2000 : 2 * quarter]
    assert rms_dbfs(loud) - rms_dbfs(soft) < 20.0 - 8.0


def test_ratio_one_compressor_does_nothing() -> None:
    hits = _drum_hits()
    np.testing.assert_allclose(_one(hits, {"vocals.comp_threshold_db": -40.0}), _one(hits), atol=1e-6)


@pytest.mark.parametrize("threshold_db", [0.0, -6.0, -12.0])
def test_limiter_holds_its_ceiling(threshold_db: float) -> None:
    hot = _one(4 * _drum_hits(), {"vocals.gain_db": 12.0, "master_limiter_db": threshold_db})
    assert peak_dbfs(hot) <= -1.0 + 0.01


def test_limiter_threshold_drives_the_master_louder() -> None:
    audio = noise(2.0, 0.02)
    assert integrated_lufs(_one(audio, {"master_limiter_db": -6.0}), SR) - integrated_lufs(_one(audio), SR) > 5.0


@pytest.mark.parametrize("target", [-23.0, -14.0, -9.0])
def test_loudness_normalisation_lands_on_target(four_stems: dict[str, np.ndarray], target: float) -> None:
    out = render(four_stems, NEUTRAL, SR, target_lufs=target).mix
    assert integrated_lufs(out, SR) == pytest.approx(target, abs=0.5)
    assert peak_dbfs(out) <= -1.0 + 0.01


def test_silent_mix_stays_silent_under_a_target() -> None:
    out = _one(np.zeros((1, SR), np.float32), target_lufs=-14.0)
    assert not np.any(out)


def test_bus_overs_are_reported_not_hidden() -> None:
    result = render({"vocals": tone(440, 1.0, 0.9)}, NEUTRAL.replace({"vocals.gain_db": 12.0}), SR)
    assert result.bus_overs > 0
    assert result.limiter_reduction_db > 6.0
    assert result.clipped_samples == 0


def test_extreme_settings_give_finite_output(four_stems: dict[str, np.ndarray]) -> None:
    for v in (-1.0, 1.0):
        out = render(four_stems, SPACE.to_physical(np.full(SPACE.size, v)), SR).mix
        assert np.isfinite(out).all() and out.dtype == np.float32


def test_reused_renderer_matches_a_fresh_one(four_stems: dict[str, np.ndarray]) -> None:
    renderer = Renderer(SR)
    settings = SPACE.to_physical(np.random.default_rng(5).uniform(-1, 1, SPACE.size))
    other = SPACE.to_physical(np.random.default_rng(6).uniform(-1, 1, SPACE.size))
    first = renderer.render(four_stems, settings).mix
    renderer.render(four_stems, other)
    np.testing.assert_array_equal(renderer.render(four_stems, settings).mix, first)
    np.testing.assert_array_equal(render(four_stems, settings, SR).mix, first)


def test_processed_stems_sum_to_the_bus(four_stems: dict[str, np.ndarray]) -> None:
    result = Renderer(SR).render(four_stems, NEUTRAL, return_stems=True)
    assert set(result.stems) == set(four_stems)
    np.testing.assert_allclose(sum(result.stems.values())[:, 2000:], result.mix[:, 2000:], atol=1e-5)


def test_mismatched_lengths_are_refused(four_stems: dict[str, np.ndarray]) -> None:
    stems = dict(four_stems, bass=tone(80, 1.0))
    with pytest.raises(ValueError, match="equal lengths"):
        render(stems, NEUTRAL, SR)


def test_unknown_role_is_refused() -> None:
    with pytest.raises(ValueError, match="no channel strip"):
        Renderer(SR, ("vocals",)).render({"piano": tone(440)}, NEUTRAL)


def test_low_sample_rate_is_refused() -> None:
    with pytest.raises(ValueError, match="16000"):
        Renderer(8000)


@pytest.mark.parametrize("target_lufs", [None, -14.0])
@pytest.mark.parametrize("block", [1_000, 8_192, 3 * SR])
def test_a_song_rendered_in_blocks_is_the_song_rendered_whole(target_lufs: float | None, block: int) -> None:
    from mixenv.render import BusStore

    stems = {"vocals": noise(3.0, 0.3, channels=2, seed=1), "bass": tone(55, 3.0, 0.5), "drums": noise(3.0, 0.4)}
    settings = SPACE.to_physical(np.random.default_rng(2).uniform(-1, 1, len(SPACE.neutral_vector())))
    renderer = Renderer(SR, target_lufs=target_lufs)
    whole = renderer.render(stems, settings)
    out: list[np.ndarray] = []
    with BusStore(on_disk=True) as store:
        blocks = ({role: a[:, i : i + block] for role, a in stems.items()} for i in range(0, 3 * SR, block))
        stats = renderer.render_blocks(blocks, settings, out.append, store=store)
        file = store._file.name
    mix = np.concatenate(out, axis=1)
    assert mix.shape == whole.mix.shape and stats.bus_overs == whole.bus_overs
    # Filters, compressors and the limiter carry their state exactly; only the loudness sum's order differs.
    np.testing.assert_allclose(mix, whole.mix, atol=0.0 if target_lufs is None else 2e-5)
    assert stats.limiter_reduction_db == pytest.approx(whole.limiter_reduction_db, abs=1e-3)
    assert not Path(file).exists()  # the bus's temporary file is gone


def test_stems_through_the_bus_shelves_sum_to_the_bus_before_its_compressor() -> None:
    """The bus's shelves are linear: the stems shelved one by one sum to the summed bus as :meth:`Renderer.bus_stage`
    shelves it (its compressor at ratio 1 passes it unchanged), and a 6 dB low shelf lifts a 40 Hz tone by 6 dB."""
    rng = np.random.default_rng(0)
    stems = {role: (0.1 * rng.standard_normal((2, SR))).astype(np.float32) for role in ("vocals", "bass")}
    settings = (
        ParamSpace()
        .neutral()
        .replace({"master_low_shelf_db": 6.0, "master_high_shelf_db": -3.0, "master_comp_ratio": 1.0})
    )
    each = through_bus_shelves(stems, settings.master, SR)
    bus = Renderer(SR).bus_stage(stems["vocals"] + stems["bass"], settings.master)
    np.testing.assert_allclose(each["vocals"] + each["bass"], bus, atol=1e-4)
    sine = np.tile(np.sin(2 * np.pi * 40.0 * np.arange(SR) / SR).astype(np.float32), (2, 1))
    lifted = through_bus_shelves({"bass": sine}, settings.master, SR)["bass"]
    assert 20 * np.log10(np.std(lifted[:, SR // 2 :]) / np.std(sine[:, SR // 2 :])) == pytest.approx(6.0, abs=0.3)
