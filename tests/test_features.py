from __future__ import annotations

import numpy as np
import pytest
import torch

from mixenv.features import FeatureConfig, LogMel, logmel, logmel_to_power, normalize_db

from conftest import tone


def _band_level_db(features: np.ndarray) -> float:
    """Level of the loudest band, in dB, averaged over the inner frames."""
    return float(40 * (features[0, :, 5:-5].mean(axis=1).max() - 1))


@pytest.mark.parametrize("sr", [22_050, 44_100])
def test_full_scale_sine_reads_about_zero_db(sr: int) -> None:
    assert _band_level_db(logmel(tone(1000, 1.0, 1.0, sr=sr), sr)) == pytest.approx(0.0, abs=1.5)


def test_twenty_db_quieter_reads_twenty_db_lower() -> None:
    loud, quiet = logmel(tone(1000, 1.0, 1.0), 22_050), logmel(tone(1000, 1.0, 0.1), 22_050)
    assert _band_level_db(loud) - _band_level_db(quiet) == pytest.approx(20.0, abs=0.1)


def test_silence_sits_at_minus_one() -> None:
    assert np.all(logmel(np.zeros((2, 22_050), np.float32), 22_050) == -1.0)


def test_shape_dtype_and_bounds() -> None:
    audio = np.random.default_rng(0).uniform(-4, 4, (2, 22_050)).astype(np.float32)
    out = logmel(audio, 22_050)
    config = FeatureConfig()
    assert out.shape == (2, config.n_mels, config.num_frames(22_050, 22_050))
    assert out.dtype == np.float32 and out.min() >= -1.0 and out.max() <= 1.0


def test_same_grid_and_levels_at_both_rates() -> None:
    config = FeatureConfig()
    assert config.num_frames(22_050, 22_050) == config.num_frames(44_100, 44_100)
    low, high = logmel(tone(1000, 1.0, 0.3, sr=22_050), 22_050), logmel(tone(1000, 1.0, 0.3, sr=44_100), 44_100)
    assert np.argmax(low[0, :, 20]) == np.argmax(high[0, :, 20])
    assert abs(_band_level_db(low) - _band_level_db(high)) < 0.5


def test_module_takes_batches() -> None:
    batch = torch.zeros(3, 2, 22_050)
    assert LogMel(22_050)(batch).shape == (3, 2, 64, FeatureConfig().num_frames(22_050, 22_050))


@pytest.mark.parametrize("sr", [22_050, 44_100])
def test_matches_torchaudio_melspectrogram(sr: int) -> None:
    import torchaudio

    config = FeatureConfig()
    n_fft = config.n_fft(sr)
    reference = torchaudio.transforms.MelSpectrogram(
        sample_rate=sr,
        n_fft=n_fft,
        hop_length=config.hop_length(sr),
        f_min=config.f_min_hz,
        f_max=min(config.f_max_hz, sr / 2),
        n_mels=config.n_mels,
        power=2.0,
        norm=None,
        mel_scale="htk",
    )
    window = torch.hann_window(n_fft, dtype=torch.float64)
    x = 0.1 * torch.randn(2, 2, sr, generator=torch.Generator().manual_seed(0))
    power = reference(x) * 4.0 / (n_fft * float(window.square().sum()))
    expected = (20.0 * torch.log10(power.clamp_min(1e-12)) / 80.0 + 1.0).clamp(-1, 1)
    torch.testing.assert_close(LogMel(sr)(x), expected, atol=1e-5, rtol=0)


def test_power_inverts_the_normalisation_down_to_the_floor() -> None:
    db = torch.tensor([0.0, -6.0, -40.0, -79.0, -95.0])
    for floor in (-80.0, -100.0):
        power = logmel_to_power(normalize_db(db, floor), floor)
        expected = 10 ** (torch.clamp(db, min=floor) / 10)  # below the floor, the floor comes back
        torch.testing.assert_close(power, expected, rtol=1e-4, atol=0.0)
