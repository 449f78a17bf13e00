"""Each stem's gain in a reference of it, per channel and frequency (mixenv.inversion)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pedalboard
import pytest

from mixenv import inversion
from mixenv.balance import _power, as_played, band_energy, matched_pan, stem_powers
from mixenv.data import list_songs
from mixenv.inversion import level_moves_db, stem_response
from mixenv.render import LOW_SHELF_HZ, SHELF_Q, pan_gains

SR = 22_050
GAINS_DB = {"vocals": 6.0, "drums": -4.0, "bass": 0.0, "other": -2.0}


def _panned(audio: np.ndarray, pan: float, gain_db: float) -> np.ndarray:
    left, right = pan_gains(pan, gain_db)
    return np.stack([audio[0] * left, audio[-1] * right]).astype(np.float32)


def test_each_stems_level_and_pan_are_read_exactly_and_the_ridge_costs_a_little(
    tiny_corpus: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Mixes of the corpus's stems (made mono) at known faders and pans: without the ridge each stem's power ratio
    is its fader and its ratio between the channels gives its pan, to a ten-thousandth of a decibel; with it (what
    keeps identical stems apart) 0.2 dB off on average; band energies, which lack the phase, 0.8 dB."""
    pans = {"vocals": 0.0, "drums": -0.4, "bass": 0.1, "other": 0.7}
    errors: dict[float, list[float]] = {0.0: [], inversion.RIDGE: []}
    pan_errors, band_errors = [], []
    for ref in list_songs("synthetic", tiny_corpus):
        song = ref.load()
        mono = {role: audio.mean(axis=0, keepdims=True) for role, audio in song.stems.items()}
        placed = {role: as_played(audio) for role, audio in mono.items()}
        gains = [GAINS_DB[role] for role in placed]
        for ridge, found in errors.items():
            monkeypatch.setattr(inversion, "RIDGE", ridge)
            reference = sum(_panned(mono[role], pans[role], GAINS_DB[role]) for role in placed)
            response = stem_response(placed, reference, song.sample_rate)
            assert response.roles == tuple(placed)
            found.extend(np.abs(10 * np.log10(response.power_ratios()) - gains))  # placed at centre, unity
            if ridge == 0.0:
                for role, (left, right) in zip(placed, response.channel_ratios(), strict=True):
                    pan_errors.append(abs(matched_pan(0.0, float(left), float(right)) - pans[role]))
        centred = sum(_panned(mono[role], 0.0, GAINS_DB[role]) for role in placed)
        energies = [band_energy(*_power(placed[role], song.sample_rate)) for role in placed]
        plain = stem_powers(energies, band_energy(*_power(centred, song.sample_rate)))
        band_errors.extend(np.abs(10 * np.log10(plain) - gains))
    assert len(band_errors) >= 8
    assert max(errors[0.0]) < 1e-4 and max(pan_errors) < 1e-4
    assert np.mean(errors[inversion.RIDGE]) < 0.3 < 0.6 < np.mean(band_errors)


def test_level_moves_are_the_power_ratios_in_db_around_the_median_audible_stems() -> None:
    """A stem twice as powerful in the reference as placed moves 3 dB above the median; a silent stem's move is
    floored, and a stem left out of ``audible`` does not set the median."""
    moves = level_moves_db(np.array([1.0, 2.0, 0.5, 0.0]))
    np.testing.assert_allclose(moves, [1.505, 4.515, -1.505, -118.495], atol=1e-3)  # median between 1 and 0.5
    heard = level_moves_db(np.array([1.0, 2.0, 0.5, 0.0]), np.array([True, True, True, False]))
    np.testing.assert_allclose(heard, [0.0, 3.010, -3.010, -120.0], atol=1e-3)


def test_a_stems_eq_shows_in_its_band_ratios_and_no_other_stems() -> None:
    """The bass's 6 dB low shelf in the reference: its ratio below 100 Hz is 5.5 dB above its ratio over 1 kHz (the
    ridge's pull toward the channel's overall gain costs half a dB); the other voice's bands stay flat to 0.5 dB,
    and a bus gain that changes over time (a compressor's) is absorbed."""
    rng = np.random.default_rng(0)
    bass, other = (rng.standard_normal((1, 3 * SR)).astype(np.float32) * 0.05 for _ in range(2))
    shelf = pedalboard.LowShelfFilter(cutoff_frequency_hz=LOW_SHELF_HZ, gain_db=6.0, q=SHELF_Q)
    placed = {"bass": as_played(bass), "other": as_played(other)}
    envelope = np.interp(np.arange(3 * SR), [0, 3 * SR], [1.0, 0.6]).astype(np.float32)
    reference = (as_played(shelf(bass, SR)) + placed["other"]) * envelope
    response = stem_response(placed, reference, SR)
    edges = np.array([30.0, 100.0, 1_000.0, 8_000.0])
    ratios, _ = response.band_ratios(edges)
    db = 10 * np.log10(ratios)  # (bands, stems)
    assert 5.0 <= db[0, 0] - db[2, 0] <= 6.5
    assert np.ptp(db[:, 1]) < 0.5


def _low_shelf_read_db(shelved: str) -> np.ndarray:
    """Band ratios in dB ``(bands, stems)`` below 100 Hz, to 1 kHz, to 8 kHz of two noises, ``bass`` and ``other``
    20 dB under it throughout, in a reference where ``shelved`` has a 6 dB low shelf."""
    rng = np.random.default_rng(0)
    raw = {
        role: rng.standard_normal((1, 3 * SR)).astype(np.float32) * scale
        for role, scale in (("bass", 0.1), ("other", 0.01))
    }
    shelf = pedalboard.LowShelfFilter(cutoff_frequency_hz=LOW_SHELF_HZ, gain_db=6.0, q=SHELF_Q)
    placed = {role: as_played(audio) for role, audio in raw.items()}
    reference = sum(as_played(shelf(raw[role], SR)) if role == shelved else placed[role] for role in raw)
    ratios, _ = stem_response(placed, reference, SR).band_ratios(np.array([30.0, 100.0, 1_000.0, 8_000.0]))
    return 10 * np.log10(ratios)


def test_a_stem_drowned_by_another_does_not_borrow_its_tone() -> None:
    """The bass's 6 dB low shelf in the reference, another noise 20 dB below it throughout: the other's band ratios
    stay flat to 0.2 dB. (Pulled toward each bin's common gain, as the ridge once was, it read 4.4 dB of the bass's
    shelf below 100 Hz; it now pulls toward the channel's overall gain.)"""
    db = _low_shelf_read_db("bass")
    assert db[0, 0] - db[2, 0] > 5.0
    assert np.abs(db[:, 1]).max() < 0.2


def test_a_quiet_stems_own_tone_reads_through_beside_a_loud_one() -> None:
    """The quiet stem (20 dB under the other throughout) has the 6 dB low shelf in the reference: its ratio below
    100 Hz reads 4.4 dB above its ratio over 1 kHz (1.8 dB with the ridge in units of the stems' mean energy, which
    held a quiet stem near the common gain however clearly the reference showed it), the loud one's stays flat."""
    db = _low_shelf_read_db("other")
    assert db[0, 1] - db[2, 1] > 4.0
    assert np.abs(db[:, 0]).max() < 0.1
