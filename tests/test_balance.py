"""The stems' balance in a mix (how loud each stem is in it), and faders and EQ matched to a reference's stems."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pedalboard
import pytest

from mixenv.balance import (
    BALANCE_MOVE_LIMIT_DB,
    MID_REGION_EDGES_HZ,
    ROLE_LUFS,
    as_played,
    balance_placed,
    loudness_balance,
    match_balance,
    match_stem_tone,
    match_stems,
    matched_pan,
    mid_band_alternatives,
)
from mixenv.data import Multitrack, list_songs
from mixenv.inversion import stem_response
from mixenv.loudness import integrated_lufs
from mixenv.params import MixSettings, ParamSpace
from mixenv.render import HIGH_SHELF_HZ, LOW_SHELF_HZ, MID_Q, SHELF_Q, Renderer

GAINS_DB = {"vocals": 6.0, "drums": -4.0, "bass": 0.0, "other": -2.0}


@pytest.fixture(scope="module")
def song(tiny_corpus: Path) -> Multitrack:
    return list_songs("synthetic", tiny_corpus)[0].load()


def _played(song: Multitrack) -> dict[str, np.ndarray]:
    return {role: as_played(audio) for role, audio in song.stems.items()}


def _mix(placed: dict[str, np.ndarray], gains_db: dict[str, float]) -> np.ndarray:
    return sum(audio * 10 ** (gains_db[role] / 20) for role, audio in placed.items())


def test_faders_move_to_the_balance_of_the_reference(song: Multitrack) -> None:
    space = ParamSpace()
    matched = match_balance(space.neutral(), _played(song), 0.5 * _mix(_played(song), GAINS_DB), song.sample_rate)
    median = float(np.median(list(GAINS_DB.values())))
    for role, gain in GAINS_DB.items():  # around the median stem: the overall level is left to the loudness match
        assert matched[f"{role}.gain_db"] == pytest.approx(gain - median, abs=1.0)
    changed = {space.names[i] for i in np.flatnonzero(matched.normalized() != space.neutral_vector())}
    assert changed <= {f"{role}.{name}" for role in GAINS_DB for name in ("gain_db", "pan")}  # faders and pans
    assert max(abs(matched[f"{role}.pan"]) for role in GAINS_DB) < 0.01  # the reference has them at centre


def test_pans_and_faders_converge_on_the_references_in_two_rounds(song: Multitrack) -> None:
    """A reference with its stems panned (mono and stereo ones alike) at unity: matched from other pans, each round
    read from a fresh render as :func:`match_stems` does, the pans land on the reference's within 0.05 after one
    round (the ridge's pull, :data:`mixenv.inversion.RIDGE`) and within 0.01 after two, the faders within 0.2 dB."""
    space = ParamSpace()
    pans = {"vocals": 0.0, "drums": -0.4, "bass": 0.1, "other": 0.7}
    renderer = Renderer(song.sample_rate, space.roles)
    reference = renderer.render(song.stems, space.neutral().replace({f"{r}.pan": p for r, p in pans.items()})).mix
    matched = space.neutral().replace({"vocals.pan": 0.3, "drums.pan": 0.2, "bass.pan": -0.6, "other.pan": -0.5})
    for tolerance in (0.1, 0.01):
        placed = renderer.render(song.stems, matched, return_stems=True).stems
        matched = match_balance(matched, placed, reference, song.sample_rate)
        assert max(abs(matched[f"{role}.pan"] - pan) for role, pan in pans.items()) < tolerance
    assert max(abs(matched[f"{role}.gain_db"]) for role in pans) < 0.2


def test_a_pan_moves_by_the_channels_ratio_except_at_the_edges() -> None:
    """Centre, with the right channel's power doubled in the reference against the left: tan θ grows by √2; equal
    ratios keep any pan; a hard pan or a channel without the stem keeps it."""
    moved = matched_pan(0.0, 1.0, 2.0)
    assert np.tan((moved + 1) * np.pi / 4) == pytest.approx(np.sqrt(2.0))
    assert matched_pan(-0.3, 0.5, 0.5) == pytest.approx(-0.3)
    assert matched_pan(-1.0, 1.0, 4.0) == -1.0 and matched_pan(1.0, 4.0, 1.0) == 1.0
    assert matched_pan(0.2, 0.0, 1.0) == 0.2


def test_silent_stems_and_lone_stems_keep_their_faders(song: Multitrack) -> None:
    start = ParamSpace().neutral().replace({"other.gain_db": -3.0})
    placed = _played(song) | {"other": np.zeros((2, song.num_samples), np.float32)}
    reference = _mix(_played(song), GAINS_DB)
    matched = match_balance(start, placed, reference, song.sample_rate)
    assert matched["other.gain_db"] == -3.0 and matched["vocals.gain_db"] > 1.0
    alone = match_balance(start, {"bass": placed["bass"]}, reference, song.sample_rate)
    np.testing.assert_array_equal(alone.normalized(), start.normalized())


def test_a_stem_the_fit_cannot_place_moves_by_the_limit_at_most(song: Multitrack) -> None:
    """Two identical stems: least squares may give one all the power and the other none (a 40 dB move without
    the limit); neither fader moves further than :data:`BALANCE_MOVE_LIMIT_DB`, and a 30 dB difference the
    reference really has is met only up to it."""
    space = ParamSpace()
    placed = _played(song)
    twins = placed | {"other": placed["vocals"].copy()}
    matched = match_balance(space.neutral(), twins, _mix(twins, GAINS_DB), song.sample_rate)
    moves = [matched[f"{role}.gain_db"] for role in twins]
    assert max(abs(m) for m in moves) <= BALANCE_MOVE_LIMIT_DB + 1e-9
    far = match_balance(space.neutral(), placed, _mix(placed, GAINS_DB | {"drums": -30.0}), song.sample_rate)
    assert far["drums.gain_db"] == pytest.approx(-BALANCE_MOVE_LIMIT_DB)


def test_each_stems_eq_moves_to_its_tone_in_the_reference(song: Multitrack) -> None:
    """The reference's bass has 6 dB of low shelf and its other stem -6 dB of mid band at 3 kHz: matched from
    neutral (mid bands at 1.1 kHz), those two gains move most of the way, the other stem's mid band moves to within
    a third of an octave of 3 kHz, and no other EQ gain moves by 2 dB."""
    space = ParamSpace()
    start = space.neutral()
    placed = _played(song)
    truth = {"bass.low_shelf_db": 6.0, "other.mid_db": -6.0}
    low = pedalboard.LowShelfFilter(cutoff_frequency_hz=LOW_SHELF_HZ, gain_db=6.0, q=SHELF_Q)
    mid = pedalboard.PeakFilter(cutoff_frequency_hz=3_000.0, gain_db=-6.0, q=MID_Q)
    shaped = placed | {
        "bass": low(np.ascontiguousarray(placed["bass"]), song.sample_rate),
        "other": mid(np.ascontiguousarray(placed["other"]), song.sample_rate),
    }
    reference = _mix(shaped, GAINS_DB)
    toned = match_stem_tone(start, placed, reference, song.sample_rate)
    for name, value in truth.items():
        assert 0.5 <= toned[name] / value <= 1.1, name
    assert abs(np.log2(toned["other.mid_freq_hz"] / 3_000.0)) <= 1 / 3
    assert toned["vocals.mid_freq_hz"] == start["vocals.mid_freq_hz"]  # no tone there to move a centre for
    eq = [f"{role}.{c}" for role in GAINS_DB for c in ("low_shelf_db", "mid_db", "high_shelf_db")]
    assert max(abs(toned[name]) for name in eq if name not in truth) < 2.0
    centres = {f"{role}.mid_freq_hz" for role in GAINS_DB}
    moved = {n for n, v in zip(space.names, toned.normalized() != start.normalized(), strict=True) if v}
    assert moved <= {*eq, *centres}
    renderer = Renderer(song.sample_rate, space.roles)
    both = match_stems(
        space.neutral(), lambda s: renderer.render(song.stems, s, return_stems=True).stems, reference, song.sample_rate
    )
    assert both["vocals.gain_db"] - both["drums.gain_db"] > 6.0  # 10 dB apart in the reference
    assert both["bass.low_shelf_db"] > 3.0 and both["other.mid_db"] < -3.0


def test_at_44_1_khz_a_stems_high_shelf_is_read_from_what_it_plays_above_11_khz() -> None:
    """The reference's vocals (a 220 Hz tone and noise above 12 kHz) have 6 dB of high shelf, which acts on the noise
    alone: the tone fit reads it from the bands above 11 kHz (a rate of 44.1 kHz has them; fitted to 11 kHz only,
    it moved by 0.7 dB; now 3.6 in one fit), and the other stem (noise between 500 Hz and 4 kHz) keeps its EQ."""
    rate, seconds = 44_100, 2.0
    rng = np.random.default_rng(0)
    t = np.arange(int(rate * seconds)) / rate
    steep = pedalboard.Pedalboard([pedalboard.HighpassFilter(12_000.0) for _ in range(4)])
    air = steep(rng.normal(0, 0.1, t.size), rate)
    vocals = 0.3 * np.sin(2 * np.pi * 220.0 * t) + air
    band = [pedalboard.HighpassFilter(500.0), pedalboard.LowpassFilter(4_000.0)]
    other = pedalboard.Pedalboard(band)(rng.normal(0, 0.3, t.size), rate)
    placed = {"vocals": np.stack([vocals, vocals]), "other": np.stack([other, other])}
    placed = {role: audio.astype(np.float32) for role, audio in placed.items()}
    shelf = pedalboard.HighShelfFilter(cutoff_frequency_hz=HIGH_SHELF_HZ, gain_db=6.0, q=SHELF_Q)
    reference = shelf(placed["vocals"], rate) + placed["other"]
    toned = match_stem_tone(ParamSpace().neutral(), placed, reference, rate)
    assert 3.0 <= toned["vocals.high_shelf_db"] <= 6.6
    assert max(abs(toned[f"other.{c}"]) for c in ("low_shelf_db", "mid_db", "high_shelf_db")) < 0.5


def _hits_and_a_quiet_voice(rate: int, seconds: float, level: float) -> dict[str, np.ndarray]:
    """Drums: loud noise above 3 kHz for 20 ms of every 250; vocals: a 220 Hz tone and quiet noise above 3 kHz
    throughout, ``level`` its standard deviation (the drums' is 1)."""
    rng = np.random.default_rng(0)
    t = np.arange(int(rate * seconds)) / rate
    highs = pedalboard.Pedalboard([pedalboard.HighpassFilter(3_000.0), pedalboard.HighpassFilter(3_000.0)])
    drums = highs(rng.normal(0, 1.0, t.size), rate) * ((t % 0.25) < 0.02)
    vocals = 0.3 * np.sin(2 * np.pi * 220.0 * t) + highs(rng.normal(0, level, t.size), rate)
    return {role: as_played(audio.astype(np.float32)[None]) for role, audio in (("vocals", vocals), ("drums", drums))}


def test_a_stem_alone_between_anothers_hits_has_little_of_the_energy_and_most_of_the_presence() -> None:
    """Above 3 kHz the vocals hold 6% of the energy but are what one hears in 70% of the cells (the drums play
    8% of the time): presence counts time, not energy, and each bin's shares sum to 1."""
    placed = _hits_and_a_quiet_voice(22_050, 2.0, level=0.05)
    response = stem_response(placed, sum(placed.values()), 22_050)
    edges = np.array([3_000.0, 10_000.0])
    _, held = response.band_ratios(edges)
    energy_share, presence = held[0] / held[0].sum(), response.band_presence(edges)[0]
    assert energy_share[0] < 0.1 and presence[0] > 0.6
    heard = response.presence.sum(axis=0)
    assert np.allclose(heard[heard > 0], 1.0, atol=1e-4)


def test_a_stem_heard_between_anothers_hits_has_its_shelf_read_though_it_holds_little_energy() -> None:
    """The reference's vocals have 6 dB of high shelf, acting on their quiet noise, which the drums' hits drown in
    energy (3% of the highs' energy) but not in time: weighed by presence as well as energy, the tone fit reads
    2.0 dB of it in one fit (0.7 weighed by energy alone), and the drums keep their EQ."""
    placed = _hits_and_a_quiet_voice(22_050, 2.0, level=0.03)
    shelf = pedalboard.HighShelfFilter(cutoff_frequency_hz=HIGH_SHELF_HZ, gain_db=6.0, q=SHELF_Q)
    reference = shelf(placed["vocals"], 22_050) + placed["drums"]
    toned = match_stem_tone(ParamSpace().neutral(), placed, reference, 22_050)
    assert 1.5 <= toned["vocals.high_shelf_db"] <= 6.6
    assert max(abs(toned[f"drums.{c}"]) for c in ("low_shelf_db", "mid_db", "high_shelf_db")) < 0.1


def test_a_stems_rumble_below_its_high_pass_does_not_drive_its_low_shelf() -> None:
    """The reference's vocals (a 440 Hz tone and rumble below 60 Hz) have their rumble 10 dB up, what a high-pass
    set lower than the start's would show: with the start's corner at 200 Hz those bands weigh by the high-pass's
    gain there, and the low shelf moves 1.5 dB; with the corner at 20 Hz it chases the rumble to the limit (6 dB)."""
    rate = 22_050
    rng = np.random.default_rng(0)
    t = np.arange(2 * rate) / rate
    lows = pedalboard.Pedalboard([pedalboard.LowpassFilter(60.0) for _ in range(4)])
    rumble = lows(rng.normal(0, 0.05, t.size), rate)
    tone = 0.3 * np.sin(2 * np.pi * 440.0 * t)
    band = pedalboard.Pedalboard([pedalboard.HighpassFilter(500.0), pedalboard.LowpassFilter(4_000.0)])
    placed = {
        "vocals": as_played((tone + rumble).astype(np.float32)[None]),
        "other": as_played(band(rng.normal(0, 0.3, t.size), rate).astype(np.float32)[None]),
    }
    reference = as_played((tone + 3.0 * rumble).astype(np.float32)[None]) + placed["other"]
    moves = {}
    for hpf_hz in (20.0, 200.0):
        start = ParamSpace().neutral().replace({"vocals.hpf_hz": hpf_hz})
        moves[hpf_hz] = match_stem_tone(start, placed, reference, rate)["vocals.low_shelf_db"]
    assert moves[200.0] < 2.0 < 4.0 < moves[20.0]


def test_without_a_reference_each_placed_stem_reaches_its_roles_loudness(song: Multitrack) -> None:
    """The convention on the stems as their strips play them: a strip's EQ boost and its fader are both counted."""
    space = ParamSpace()
    renderer = Renderer(song.sample_rate, space.roles)

    def placed(settings: MixSettings) -> dict[str, np.ndarray]:
        return renderer.render(song.stems, settings, return_stems=True).stems

    start = space.neutral().replace({"vocals.gain_db": -7.0, "bass.low_shelf_db": 9.0, "drums.high_shelf_db": 6.0})
    balanced = match_stems(start, placed, None, song.sample_rate)
    assert balanced is not start and balance_placed(start, placed(start), song.sample_rate) == balanced
    for role, stem in placed(balanced).items():
        assert integrated_lufs(stem, song.sample_rate) == pytest.approx(ROLE_LUFS[role], abs=0.05), role
    changed = np.flatnonzero(balanced.normalized() != start.normalized())
    assert {space.names[i] for i in changed} <= {f"{role}.gain_db" for role in GAINS_DB}  # only faders move
    # The raw files' balance misses the boosted shelf: the bass sits louder than its role's loudness.
    raw = loudness_balance(start, song.stems, song.sample_rate)
    assert integrated_lufs(placed(raw)["bass"], song.sample_rate) > ROLE_LUFS["bass"] + 1.0
    silent = placed(start) | {"other": np.zeros((2, song.num_samples), np.float32)}
    assert balance_placed(start, silent, song.sample_rate)["other.gain_db"] == start["other.gain_db"]


def test_mid_band_alternatives_read_each_stems_tone_in_the_other_regions_of_its_mid_band() -> None:
    """The reference's vocals (noise from 100 Hz to 8 kHz) have a 6 dB presence lift at 3 kHz; their mid band starts
    at 400 Hz, flat. The alternatives fit each stem's EQ with its centre in each region but its own, the loudest
    stem first, one stem's EQ controls each: the vocals' presence region reads the lift (3 kHz +/- a third of an
    octave, 3-6.6 dB), their mids region something else, and the quieter drums come after."""
    rate = 22_050
    rng = np.random.default_rng(1)
    band = pedalboard.Pedalboard([pedalboard.HighpassFilter(100.0), pedalboard.LowpassFilter(8_000.0)])
    vocals = band(rng.normal(0, 0.3, 2 * rate).astype(np.float32), rate)
    drums = pedalboard.HighpassFilter(5_000.0)(rng.normal(0, 0.05, 2 * rate).astype(np.float32), rate)
    placed = {"vocals": as_played(vocals[None]), "drums": as_played(drums[None])}
    lift = pedalboard.PeakFilter(cutoff_frequency_hz=3_000.0, gain_db=6.0, q=MID_Q)
    reference = lift(placed["vocals"], rate) + placed["drums"]
    start = ParamSpace().neutral().replace({"vocals.mid_freq_hz": 400.0, "vocals.mid_db": 0.0})
    readings = mid_band_alternatives(start, lambda _: placed, reference, rate)  # the bus's shelves flat
    roles = [next(iter(changes)).split(".")[0] for changes in readings]
    assert roles[0] == "vocals" and roles == sorted(roles, key=["vocals", "drums"].index)
    for changes in readings:
        role = next(iter(changes)).split(".")[0]
        assert set(changes) == {f"{role}.{c}" for c in ("low_shelf_db", "mid_db", "high_shelf_db", "mid_freq_hz")}
    vocal_centres = [c["vocals.mid_freq_hz"] for c in readings if "vocals.mid_freq_hz" in c]
    assert len(vocal_centres) == 2 and min(vocal_centres) > MID_REGION_EDGES_HZ[0]  # none in the start's region
    presence = next(c for c in readings if c.get("vocals.mid_freq_hz", 0) > MID_REGION_EDGES_HZ[1])
    assert 2_400.0 <= presence["vocals.mid_freq_hz"] <= 3_800.0 and 3.0 <= presence["vocals.mid_db"] <= 6.6
