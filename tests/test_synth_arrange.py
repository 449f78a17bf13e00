"""Tests for the synthetic corpus's song arranger and General-MIDI soundfont renderer."""

from __future__ import annotations

import itertools
import json
import re

import numpy as np
import pytest
import tinysoundfont

from mixenv.data.synth.arrange import Arrangement, Note, Part, arrange_song
from mixenv.data.synth.soundfont import SoundfontRenderer, soundfont_path
from mixenv.params import ROLES

SAMPLE_RATE = 22050
SECONDS = 5.0
NUM_SAMPLES = int(SECONDS * SAMPLE_RATE)
SEEDS = range(40)
STRAIGHT_GROOVES = {"rock_backbeat", "four_on_the_floor", "half_time", "funk_16ths"}
PITCH_CLASSES = {"C": 0, "C#": 1, "Db": 1, "D": 2, "Eb": 3, "E": 4, "F": 5, "F#": 6, "G": 7, "G#": 8, "Ab": 8}
PITCH_CLASSES |= {"A": 9, "Bb": 10, "B": 11}
SCALES = {"major": (0, 2, 4, 5, 7, 9, 11), "minor": (0, 2, 3, 5, 7, 8, 10)}


def _song(seed: int, seconds: float = SECONDS) -> Arrangement:
    return arrange_song(np.random.default_rng(seed), seconds)


def _all_notes(song: Arrangement, role: str) -> list[Note]:
    return [note for part in song.parts[role] for note in part.notes]


def _centroid_hz(audio: np.ndarray) -> float:
    spectrum = np.abs(np.fft.rfft(audio.mean(axis=0)))
    freqs = np.fft.rfftfreq(audio.shape[1], 1.0 / SAMPLE_RATE)
    return float(np.sum(freqs * spectrum) / np.sum(spectrum))


def _peak_dbfs(audio: np.ndarray) -> float:
    return 20.0 * float(np.log10(np.max(np.abs(audio))))


@pytest.fixture(scope="module")
def songs() -> list[Arrangement]:
    return [_song(seed) for seed in SEEDS]


@pytest.fixture(scope="module")
def renderer() -> SoundfontRenderer:
    return SoundfontRenderer(SAMPLE_RATE)


# --- Arranger ----------------------------------------------------------------------------------------------------


def test_same_seed_gives_equal_arrangement() -> None:
    assert _song(7) == _song(7)


def test_different_seeds_give_different_arrangements(songs: list[Arrangement]) -> None:
    first = songs[:10]
    assert all(a != b for i, a in enumerate(first) for b in first[i + 1 :])


def test_grooves_vary_across_seeds(songs: list[Arrangement]) -> None:
    assert len({song.groove for song in songs}) >= 5


def test_progressions_vary_across_seeds(songs: list[Arrangement]) -> None:
    assert len({song.progression for song in songs}) >= 6


def test_programs_vary_across_seeds(songs: list[Arrangement]) -> None:
    programs = {(part.is_drum, part.program) for song in songs for parts in song.parts.values() for part in parts}
    assert len(programs) >= 10


def test_tempo_spread_across_seeds(songs: list[Arrangement]) -> None:
    tempos = [song.tempo_bpm for song in songs]
    assert max(tempos) - min(tempos) >= 50.0


def test_tempo_key_and_progression_are_well_formed(songs: list[Arrangement]) -> None:
    for song in songs:
        assert 70.0 <= song.tempo_bpm <= 160.0
        assert re.fullmatch(r"[A-G][b#]? (major|minor)", song.key)
        assert len(song.progression) == 4


def test_every_role_has_one_or_two_parts_with_notes(songs: list[Arrangement]) -> None:
    for song in songs:
        assert tuple(song.parts) == ROLES
        for parts in song.parts.values():
            assert 1 <= len(parts) <= 2
            assert all(part.notes for part in parts)


def test_only_drum_role_uses_drum_parts(songs: list[Arrangement]) -> None:
    for song in songs:
        for role, parts in song.parts.items():
            assert all(part.is_drum == (role == "drums") for part in parts)


def test_notes_lie_inside_song_and_leave_release_room(songs: list[Arrangement]) -> None:
    for song in songs:
        for role in ROLES:
            for note in _all_notes(song, role):
                assert 0.0 <= note.start_seconds < note.end_seconds <= song.seconds
                assert note.start_seconds <= song.seconds - 0.3


def test_velocities_and_pitches_are_valid_midi(songs: list[Arrangement]) -> None:
    for song in songs:
        for role in ROLES:
            for note in _all_notes(song, role):
                assert 1 <= note.velocity <= 127
                assert 0 <= note.pitch <= 127


def test_lead_line_is_monophonic(songs: list[Arrangement]) -> None:
    for song in songs:
        notes = sorted(_all_notes(song, "vocals"), key=lambda note: note.start_seconds)
        assert all(b.start_seconds >= a.end_seconds for a, b in itertools.pairwise(notes))


def test_lead_stays_in_voice_range_and_key(songs: list[Arrangement]) -> None:
    for song in songs:
        tonic_name, mode = song.key.split()
        scale = {(PITCH_CLASSES[tonic_name] + step) % 12 for step in SCALES[mode]}
        for note in _all_notes(song, "vocals"):
            assert 60 <= note.pitch <= 84
            assert note.pitch % 12 in scale


def test_lead_moves_mostly_by_step(songs: list[Arrangement]) -> None:
    intervals = np.concatenate([np.abs(np.diff([n.pitch for n in _all_notes(song, "vocals")])) for song in songs])
    assert np.mean(intervals <= 2) >= 0.6
    assert np.mean(intervals >= 8) <= 0.1


def test_lead_phrases_are_separated_by_rests() -> None:
    for seed in range(10):
        song = _song(seed, 10.0)
        notes = _all_notes(song, "vocals")
        longest_rest = max(b.start_seconds - a.end_seconds for a, b in itertools.pairwise(notes))
        assert longest_rest >= 0.75 * 60.0 / song.tempo_bpm


def test_bass_range_and_register_below_lead(songs: list[Arrangement]) -> None:
    for song in songs:
        bass = [note.pitch for note in _all_notes(song, "bass")]
        lead = [note.pitch for note in _all_notes(song, "vocals")]
        assert min(bass) >= 28 and max(bass) <= 55
        assert np.median(bass) <= np.median(lead) - 12


def test_harmony_sits_in_middle_register(songs: list[Arrangement]) -> None:
    for song in songs:
        pitches = [note.pitch for note in _all_notes(song, "other")]
        assert min(pitches) >= 52 and max(pitches) <= 76


def test_drums_open_with_a_crash(songs: list[Arrangement]) -> None:
    for song in songs:
        assert any(note.pitch == 49 and note.start_seconds < 0.02 for note in _all_notes(song, "drums"))


def test_straight_drum_timing_is_humanised_but_tight(songs: list[Arrangement]) -> None:
    straight = [song for song in songs if song.groove in STRAIGHT_GROOVES]
    assert straight
    for song in straight:
        sixteenth = 15.0 / song.tempo_bpm
        onsets = np.array([note.start_seconds for note in _all_notes(song, "drums") if note.start_seconds > 0.0])
        deviation = onsets - np.round(onsets / sixteenth) * sixteenth
        assert np.max(np.abs(deviation)) <= 0.02
        assert np.std(deviation) > 0.001


def test_drum_velocities_are_humanised(songs: list[Arrangement]) -> None:
    for song in songs:
        velocities = [note.velocity for note in _all_notes(song, "drums")]
        assert len(set(velocities)) >= 10


def test_programs_exist_in_soundfont(songs: list[Arrangement]) -> None:
    synth = tinysoundfont.Synth(samplerate=SAMPLE_RATE)
    sfid = synth.sfload(str(soundfont_path()))
    for song in songs:
        for parts in song.parts.values():
            for part in parts:
                assert synth.sfpreset_name(sfid, 128 if part.is_drum else 0, part.program) is not None, part


def test_describe_is_json_ready(songs: list[Arrangement]) -> None:
    summary = json.loads(json.dumps(songs[0].describe()))
    assert summary["tempo_bpm"] == songs[0].tempo_bpm
    assert summary["progression"] == list(songs[0].progression)
    assert summary["parts"] == {role: [part.name for part in songs[0].parts[role]] for role in ROLES}


def test_too_short_song_is_rejected() -> None:
    with pytest.raises(ValueError, match="too short"):
        arrange_song(np.random.default_rng(0), 0.3)


# --- Renderer ----------------------------------------------------------------------------------------------------


def test_soundfont_path_exists() -> None:
    path = soundfont_path()
    assert path.name == "TimGM6mb.sf2"
    assert path.stat().st_size > 1_000_000


def test_render_returns_finite_float32_stereo(renderer: SoundfontRenderer, songs: list[Arrangement]) -> None:
    audio = renderer.render(songs[0].parts["other"], NUM_SAMPLES)
    assert audio.shape == (2, NUM_SAMPLES)
    assert audio.dtype == np.float32
    assert np.all(np.isfinite(audio))


def test_full_mix_level_is_sane(renderer: SoundfontRenderer, songs: list[Arrangement]) -> None:
    for song in songs[:5]:
        mix = renderer.render([part for parts in song.parts.values() for part in parts], NUM_SAMPLES)
        assert -40.0 <= _peak_dbfs(mix) <= 6.0


def test_every_role_renders_audibly(renderer: SoundfontRenderer, songs: list[Arrangement]) -> None:
    for song in songs[:3]:
        for role in ROLES:
            assert _peak_dbfs(renderer.render(song.parts[role], NUM_SAMPLES)) > -40.0, (song.describe(), role)


def test_same_seed_renders_bit_identical_audio(renderer: SoundfontRenderer) -> None:
    parts = [part for parts in _song(11).parts.values() for part in parts]
    again = [part for parts in _song(11).parts.values() for part in parts]
    fresh = SoundfontRenderer(SAMPLE_RATE)
    assert np.array_equal(renderer.render(parts, NUM_SAMPLES), fresh.render(again, NUM_SAMPLES))


def test_render_state_does_not_leak_between_calls(renderer: SoundfontRenderer, songs: list[Arrangement]) -> None:
    parts_a = songs[1].parts["other"] + songs[1].parts["vocals"]
    parts_b = [part for parts in songs[2].parts.values() for part in parts]
    first = renderer.render(parts_a, NUM_SAMPLES)
    renderer.render(parts_b, NUM_SAMPLES)
    assert np.array_equal(renderer.render(parts_a, NUM_SAMPLES), first)


def test_bass_is_darker_than_lead(renderer: SoundfontRenderer, songs: list[Arrangement]) -> None:
    for song in songs[:4]:
        bass = _centroid_hz(renderer.render(song.parts["bass"], NUM_SAMPLES))
        lead = _centroid_hz(renderer.render(song.parts["vocals"], NUM_SAMPLES))
        assert bass < lead, song.describe()


def test_note_onset_is_sample_accurate(renderer: SoundfontRenderer) -> None:
    part = Part(program=0, is_drum=False, notes=(Note(0.5, 1.0, 60, 100),), name="Acoustic Grand Piano")
    audio = renderer.render([part], SAMPLE_RATE)
    onset = round(0.5 * SAMPLE_RATE)
    assert not np.any(audio[:, :onset])
    assert np.sqrt(np.mean(audio[:, onset : onset + SAMPLE_RATE // 20] ** 2)) > 1e-3


def test_lead_is_silent_until_its_first_note(renderer: SoundfontRenderer, songs: list[Arrangement]) -> None:
    for song in songs[:5]:
        onset = round(song.parts["vocals"][0].notes[0].start_seconds * SAMPLE_RATE)
        audio = renderer.render(song.parts["vocals"], NUM_SAMPLES)
        assert onset > 0
        assert not np.any(audio[:, :onset])
        assert np.sqrt(np.mean(audio[:, onset : onset + SAMPLE_RATE // 10] ** 2)) > 1e-4


def test_shorter_render_is_a_prefix_of_longer(renderer: SoundfontRenderer, songs: list[Arrangement]) -> None:
    parts = songs[3].parts["drums"] + songs[3].parts["bass"]
    full = renderer.render(parts, NUM_SAMPLES)
    assert np.array_equal(renderer.render(parts, NUM_SAMPLES // 2), full[:, : NUM_SAMPLES // 2])


def test_more_than_sixteen_parts_are_all_rendered(renderer: SoundfontRenderer) -> None:
    part = Part(program=0, is_drum=False, notes=(Note(0.1, 0.4, 60, 90),), name="Acoustic Grand Piano")
    one = renderer.render([part], SAMPLE_RATE // 2)
    many = renderer.render([part] * 17, SAMPLE_RATE // 2)
    np.testing.assert_allclose(many, 17.0 * one, rtol=1e-4, atol=1e-6)
