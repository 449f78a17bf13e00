"""Loudness measures: BS.1770 integrated loudness agrees with pyloudnorm, silence and short signals are defined."""

from __future__ import annotations

import numpy as np
import pyloudnorm
import pytest

from mixenv.loudness import SILENCE_LUFS, integrated_lufs, peak_dbfs, rms_dbfs

from conftest import SR, tone


@pytest.mark.parametrize("sr", [16_000, 22_050, 33_075, 44_100, 48_000])
def test_integrated_loudness_matches_pyloudnorm(sr: int) -> None:
    rng = np.random.default_rng(sr)
    for _ in range(5):
        n = int(rng.uniform(0.5, 8.0) * sr)
        envelope = np.exp(rng.uniform(-8, 0, (1, n // 4000 + 1))).repeat(4000, axis=1)[:, :n]
        audio = 0.1 * rng.standard_normal((2, n)) * envelope
        expected = pyloudnorm.Meter(sr).integrated_loudness(audio.T)
        assert integrated_lufs(audio, sr) == pytest.approx(expected, abs=1e-6)


def test_full_scale_sine_in_both_channels_reads_about_zero() -> None:
    assert integrated_lufs(tone(997, 2.0, 1.0, channels=2), 22_050) == pytest.approx(0.0, abs=0.7)


def test_silence_and_quiet_signals_read_the_absolute_gate() -> None:
    assert integrated_lufs(np.zeros((2, 22_050)), 22_050) == SILENCE_LUFS
    assert integrated_lufs(tone(997, 1.0, 1e-5), 22_050) == SILENCE_LUFS


def test_short_signals_are_measured_as_looped() -> None:
    short = tone(997, 0.1, 0.5)
    assert integrated_lufs(short, 22_050) == pytest.approx(integrated_lufs(tone(997, 1.0, 0.5), 22_050), abs=0.2)


def test_peak_and_rms() -> None:
    audio = tone(440, 1.0, 0.5)
    assert peak_dbfs(audio) == pytest.approx(-6.02, abs=0.01)
    assert rms_dbfs(audio) == pytest.approx(-9.03, abs=0.01)
    assert peak_dbfs(np.zeros((1, 10))) == -200.0


def test_short_term_loudness_follows_a_step_in_level() -> None:
    from mixenv.loudness import short_term_lufs

    quiet, loud = tone(1000, 4.0, 0.01, channels=2), tone(1000, 4.0, 0.1, channels=2)
    times, lufs = short_term_lufs(np.concatenate([quiet, loud], axis=1), SR)
    assert times[0] == pytest.approx(1.5) and np.all(np.diff(times) == pytest.approx(1.0))
    # Windows wholly inside each half read that half's integrated loudness; the step is 20 dB.
    assert lufs[0] == pytest.approx(integrated_lufs(quiet, SR), abs=0.1)
    assert lufs[-1] == pytest.approx(integrated_lufs(loud, SR), abs=0.1)
    assert lufs[-1] - lufs[0] == pytest.approx(20.0, abs=0.2)
    assert short_term_lufs(np.zeros((1, SR)), SR)[1].tolist() == [-70.0]  # silence reads the floor, one window


def _in_blocks(meter, audio: np.ndarray, seed: int = 0):
    """Feed ``audio`` to ``meter`` in blocks of random sizes, some shorter than a gating step."""
    rng = np.random.default_rng(seed)
    start = 0
    while start < audio.shape[1]:
        size = int(rng.integers(1, SR))
        meter.add(audio[:, start : start + size])
        start += size
    return meter


@pytest.mark.parametrize("seconds", [0.3, 0.45, 7.3])
def test_meters_fed_in_blocks_read_what_the_whole_signal_reads(seconds: float) -> None:
    from mixenv.balance import SpectrumMeter, long_term_spectrum_db
    from mixenv.loudness import LoudnessMeter, ShortTermMeter, short_term_lufs

    rng = np.random.default_rng(1)
    n = round(seconds * SR)
    audio = (rng.standard_normal((2, n)) * np.linspace(0.01, 0.5, n)).astype(np.float32)
    assert _in_blocks(LoudnessMeter(SR), audio).lufs() == pytest.approx(integrated_lufs(audio, SR), abs=1e-9)
    times, lufs = _in_blocks(ShortTermMeter(SR), audio).loudness()
    np.testing.assert_allclose(np.stack([times, lufs]), np.stack(short_term_lufs(audio, SR)), atol=1e-9)
    _, spectrum = _in_blocks(SpectrumMeter(SR), audio).bands()
    np.testing.assert_allclose(spectrum, long_term_spectrum_db(audio, SR)[1], atol=1e-9)
    assert LoudnessMeter(SR).lufs() == SILENCE_LUFS  # nothing fed reads as silence
