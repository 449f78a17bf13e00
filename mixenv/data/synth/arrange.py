"""Procedural song arranger for the synthetic multitrack corpus.

Draws a tempo, key, chord progression and drum groove, then writes four roles of notes (a lead line standing in for
``vocals``, ``drums``, ``bass`` and harmony ``other``) that sound like a plausible pop/rock/jazz song once rendered
with a General-MIDI soundfont. Every random draw comes from the ``numpy`` Generator passed in, so a seed fully
determines the song, and the programs used are the ones the TimGM6mb soundfont shipped with ``pretty_midi`` has.
"""

from __future__ import annotations

import itertools
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

import numpy as np

from mixenv.params import ROLES

RELEASE_ROOM_SECONDS = 0.3
"""No note sounds in the last this-many seconds, so release tails fit inside the song."""

_MIN_NOTE_SECONDS = 0.03
_RETRIGGER_GAP_SECONDS = 0.002
_LEGATO_GAP_SECONDS = 0.01
_BEATS_PER_BAR = 4
_STEPS_PER_BAR = 16
_PHRASE_BARS = 4
_T = TypeVar("_T")


@dataclass(frozen=True)
class Note:
    """One note: onset and release in seconds, MIDI pitch and velocity (1..127)."""

    start_seconds: float
    end_seconds: float
    pitch: int
    velocity: int


@dataclass(frozen=True)
class Part:
    """One instrument's notes; ``program`` is a GM program, or for drums the GM drum-kit preset (bank 128)."""

    program: int
    is_drum: bool
    notes: tuple[Note, ...]
    name: str


@dataclass(frozen=True)
class Arrangement:
    """A whole song: global musical choices plus 1-2 layered parts per role (keys exactly :data:`ROLES`)."""

    seconds: float
    tempo_bpm: float
    key: str
    progression: tuple[str, ...]
    groove: str
    parts: Mapping[str, tuple[Part, ...]]

    def describe(self) -> dict[str, Any]:
        """JSON-ready summary of the musical choices, stored next to the rendered stems for inspection."""
        return {
            "seconds": self.seconds,
            "tempo_bpm": self.tempo_bpm,
            "key": self.key,
            "progression": list(self.progression),
            "groove": self.groove,
            "parts": {role: [part.name for part in self.parts[role]] for role in ROLES},
        }


# --- Harmony -----------------------------------------------------------------------------------------------------

_MAJOR_NAMES = ("C", "Db", "D", "Eb", "E", "F", "F#", "G", "Ab", "A", "Bb", "B")
_MINOR_NAMES = ("C", "C#", "D", "Eb", "E", "F", "F#", "G", "G#", "A", "Bb", "B")
_SCALES = {"major": (0, 2, 4, 5, 7, 9, 11), "minor": (0, 2, 3, 5, 7, 8, 10)}
_PROGRESSIONS = {
    "major": (
        ("I", "V", "vi", "IV"),
        ("I", "IV", "V", "IV"),
        ("vi", "IV", "I", "V"),
        ("I", "vi", "IV", "V"),
        ("ii7", "V7", "Imaj7", "vi7"),
        ("I", "bVII", "IV", "I"),
        ("I", "iii", "IV", "V"),
        ("IV", "I", "V", "vi"),
        ("Imaj7", "IVmaj7", "iii7", "vi7"),
    ),
    "minor": (
        ("i", "VI", "III", "VII"),
        ("i", "VII", "VI", "VII"),
        ("i", "iv", "VII", "III"),
        ("i7", "iv7", "i7", "V7"),
        ("i", "VI", "iv", "V"),
        ("i", "iv", "v", "i"),
    ),
}
_ROMAN = ("I", "II", "III", "IV", "V", "VI", "VII")
_NUMERAL = re.compile(r"^(b?)([IViv]+)(maj7|7)?$")


@dataclass(frozen=True)
class _Chord:
    """A chord as a root pitch class (0 = C) and intervals above it."""

    root: int
    intervals: tuple[int, ...]

    @property
    def pitch_classes(self) -> tuple[int, ...]:
        return tuple((self.root + interval) % 12 for interval in self.intervals)

    @property
    def triad_classes(self) -> frozenset[int]:
        """Root, third and fifth: the tones a melody may land on without sounding like a passing note."""
        return frozenset(self.pitch_classes[:3])


def _parse_numeral(numeral: str, tonic: int, scale: tuple[int, ...]) -> _Chord:
    """Turn a roman numeral (``"bVII"``, ``"ii7"``, ``"Imaj7"``) into a chord in the given key."""
    match = _NUMERAL.match(numeral)
    if match is None:
        raise ValueError(f"cannot parse chord numeral {numeral!r}")
    flat, roman, suffix = match.groups()
    minor = roman.islower()
    root = (tonic + scale[_ROMAN.index(roman.upper())] - (1 if flat else 0)) % 12
    third = 3 if minor else 4
    intervals = {None: (0, third, 7), "7": (0, third, 7, 10), "maj7": (0, 4, 7, 11)}[suffix]
    return _Chord(root, intervals)


# --- Time grid ---------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Grid:
    """Musical time of one song: beats to (swung) seconds, and which chord sounds at each beat."""

    seconds: float
    beat_seconds: float
    swing: float
    tonic: int
    scale: tuple[int, ...]
    chords: tuple[_Chord, ...]
    beats_per_chord: int

    @property
    def last_release(self) -> float:
        return self.seconds - RELEASE_ROOM_SECONDS

    @property
    def num_beats(self) -> int:
        return len(self.chords) * self.beats_per_chord

    @property
    def num_bars(self) -> int:
        return self.num_beats // _BEATS_PER_BAR

    def time(self, beat: float) -> float:
        """Seconds at ``beat``; swing delays the off-beat eighth (``swing`` = 1/6 is a triplet shuffle)."""
        whole = math.floor(beat)
        frac = beat - whole
        pivot = 0.5 + self.swing
        frac = frac * pivot / 0.5 if frac < 0.5 else pivot + (frac - 0.5) * (1.0 - pivot) / 0.5
        return (whole + frac) * self.beat_seconds

    def chord_at(self, beat: float) -> _Chord:
        return self.chords[min(int(beat // self.beats_per_chord), len(self.chords) - 1)]

    def chord_spans(self) -> list[tuple[float, _Chord, _Chord]]:
        """``(start_beat, chord, next_chord)`` for every harmonic slot; the last slot's next chord loops round."""
        count = len(self.chords)
        return [(i * self.beats_per_chord, self.chords[i], self.chords[(i + 1) % count]) for i in range(count)]


class _NoteWriter:
    """Collects one part's notes, humanising timing and velocity and keeping every note inside the song."""

    def __init__(self, rng: np.random.Generator, grid: _Grid, timing_sd: float, velocity_sd: float) -> None:
        self._rng = rng
        self._grid = grid
        self._timing_sd = timing_sd
        self._velocity_sd = velocity_sd
        self._notes: list[Note] = []

    def add(self, beat: float, beats: float, pitch: int, velocity: float) -> None:
        """Add a note at ``beat`` lasting ``beats``; notes that would start in the release room are dropped."""
        timing_noise, velocity_noise = self._rng.normal(size=2)
        offset = self._timing_sd * float(np.clip(timing_noise, -2.5, 2.5))
        start = max(self._grid.time(beat) + offset, 0.0)
        end = min(self._grid.time(beat + beats) + offset, self._grid.last_release)
        if end - start < _MIN_NOTE_SECONDS:
            return
        level = int(np.clip(round(velocity + self._velocity_sd * velocity_noise), 1, 127))
        self._notes.append(Note(float(start), float(end), int(pitch), level))

    def part(self, program: int, is_drum: bool, name: str, monophonic: bool = False) -> Part:
        """The collected notes in onset order, as a :class:`Part`."""
        notes = sorted(self._notes, key=lambda note: (note.start_seconds, note.pitch))
        return Part(program, is_drum, _trim_overlaps(notes, monophonic), name)


def _trim_overlaps(notes: Sequence[Note], monophonic: bool) -> tuple[Note, ...]:
    """End each note before the next onset of the same pitch (or of any pitch, for a monophonic line).

    A synthesiser cannot tell two overlapping notes of one key apart, and a lead line must never sound two notes.
    """
    kept = []
    for i, note in enumerate(notes):
        end = note.end_seconds
        for later in notes[i + 1 :]:
            if later.start_seconds >= end:
                break
            if monophonic or later.pitch == note.pitch:
                end = later.start_seconds - (_LEGATO_GAP_SECONDS if monophonic else _RETRIGGER_GAP_SECONDS)
                break
        if end - note.start_seconds >= _MIN_NOTE_SECONDS:
            kept.append(Note(note.start_seconds, end, note.pitch, note.velocity))
    return tuple(kept)


def _pick(rng: np.random.Generator, options: Sequence[_T], weights: Sequence[float] | None = None) -> _T:
    """One element of ``options`` (optionally weighted), drawn from ``rng``."""
    probabilities = None if weights is None else np.asarray(weights, dtype=float) / float(np.sum(weights))
    return options[int(rng.choice(len(options), p=probabilities))]


# --- Drums -------------------------------------------------------------------------------------------------------

_KICK, _SIDE_STICK, _SNARE, _CLAP = 36, 37, 38, 39
_CLOSED_HAT, _PEDAL_HAT, _OPEN_HAT = 42, 44, 46
_CRASH, _RIDE = 49, 51
_TOMS_HIGH_TO_LOW = (50, 48, 47, 45, 43, 41)
_DRUM_KITS = {
    0: "Standard Kit",
    8: "Room Kit",
    16: "Power Kit",
    24: "Electronic Kit",
    25: "TR-808 Kit",
    40: "Brush Kit",
}
_STEP_VELOCITY = {"X": 112, "x": 92, "g": 42}
_DRUM_BEATS = {_CRASH: 4.0, _RIDE: 2.0, _OPEN_HAT: 1.0}


@dataclass(frozen=True)
class _Groove:
    """A drum groove: one bar of 16th-note lanes (``X`` accent, ``x`` hit, ``g`` ghost) and what suits it."""

    name: str
    tempo_range: tuple[float, float]
    swing: float
    kits: tuple[int, ...]
    lanes: tuple[tuple[int, str], ...]
    bass_styles: tuple[str, ...]
    ride_chance: float = 0.0


_GROOVES = (
    _Groove(
        "rock_backbeat",
        (72.0, 150.0),
        0.0,
        (0, 8, 16),
        ((_KICK, "x.......x.x....."), (_SNARE, "....X.......X..."), (_CLOSED_HAT, "x.x.x.x.x.x.x.x.")),
        ("root_eighths", "root_fifth", "syncopated"),
        ride_chance=0.25,
    ),
    _Groove(
        "four_on_the_floor",
        (100.0, 132.0),
        0.0,
        (24, 25, 0),
        (
            (_KICK, "X...X...X...X..."),
            (_CLAP, "....x.......x..."),
            (_CLOSED_HAT, "x...x...x...x..."),
            (_OPEN_HAT, "..x...x...x...x."),
        ),
        ("octave_pops", "root_eighths", "syncopated"),
    ),
    _Groove(
        "half_time",
        (120.0, 160.0),
        0.0,
        (0, 8, 16, 25),
        ((_KICK, "x.....x...x....."), (_SNARE, "........X......."), (_CLOSED_HAT, "x.x.x.x.x.x.x.x.")),
        ("root_fifth", "syncopated"),
        ride_chance=0.25,
    ),
    _Groove(
        "funk_16ths",
        (78.0, 118.0),
        0.0,
        (0, 8),
        ((_KICK, "x..x...x..x....."), (_SNARE, "....X..g.g..X..g"), (_CLOSED_HAT, "xgxgxgxgxgxgxgxg")),
        ("syncopated", "octave_pops"),
    ),
    _Groove(
        "shuffle",
        (70.0, 140.0),
        1.0 / 6.0,
        (0, 8),
        ((_KICK, "x.....x.x......."), (_SNARE, "....X.......X..."), (_CLOSED_HAT, "x.x.x.x.x.x.x.x.")),
        ("walking", "root_fifth"),
        ride_chance=0.4,
    ),
    _Groove(
        "breakbeat",
        (80.0, 140.0),
        0.04,
        (0, 8, 24, 25),
        ((_KICK, "X.x.......xx...."), (_SNARE, "....X..g.g..X..."), (_CLOSED_HAT, "x.x.x.x.x.x.x.xx")),
        ("syncopated", "root_eighths"),
    ),
    _Groove(
        "jazz_swing",
        (84.0, 160.0),
        1.0 / 6.0,
        (40, 0, 8),
        (
            (_RIDE, "X...x.x.X...x.x."),
            (_PEDAL_HAT, "....x.......x..."),
            (_KICK, "g.......g......."),
            (_SIDE_STICK, "..........g....g"),
        ),
        ("walking",),
    ),
)


def _fill_hits(rng: np.random.Generator, beats: int, swung: bool) -> list[tuple[int, int, float]]:
    """``(step, drum note, velocity)`` of a crescendo fill over the last ``beats`` beats of a bar."""
    kind = _pick(rng, ("toms", "snare", "snare_then_toms"))
    stride = 2 if swung else _pick(rng, (1, 2))
    first = _STEPS_PER_BAR - 4 * beats
    steps = list(range(first, _STEPS_PER_BAR, stride))
    hits = []
    for i, step in enumerate(steps):
        progress = (i + 1) / len(steps)
        if kind == "snare" or (kind == "snare_then_toms" and progress <= 0.5):
            note = _SNARE
        else:
            note = _TOMS_HIGH_TO_LOW[min(int(progress * len(_TOMS_HIGH_TO_LOW)), len(_TOMS_HIGH_TO_LOW) - 1)]
        hits.append((step, note, 70.0 + 45.0 * progress))
    return hits


def _drum_part(rng: np.random.Generator, grid: _Grid, groove: _Groove) -> Part:
    """The groove looped over the song, with a crash on bar 1 and after fills, and fills at phrase ends."""
    kit = _pick(rng, groove.kits)
    ride = rng.random() < groove.ride_chance
    lanes = [(_RIDE if ride and note == _CLOSED_HAT else note, pattern) for note, pattern in groove.lanes]
    cymbals = {_CLOSED_HAT, _OPEN_HAT, _RIDE}
    writer = _NoteWriter(rng, grid, timing_sd=0.004, velocity_sd=6.0)
    crash = True
    for bar in range(grid.num_bars):
        fill_chance = {_PHRASE_BARS - 1: 0.8, 1: 0.25}.get(bar % _PHRASE_BARS, 0.0)
        fill_beats = 0
        if rng.random() < fill_chance:
            fill_beats = 1 if bar % _PHRASE_BARS == 1 else _pick(rng, (1, 2))
        first_fill_step = _STEPS_PER_BAR - 4 * fill_beats
        for note, pattern in lanes:
            for step, symbol in enumerate(pattern):
                if symbol == "." or step >= first_fill_step or (crash and step == 0 and note in cymbals):
                    continue
                writer.add(bar * _BEATS_PER_BAR + step / 4, _DRUM_BEATS.get(note, 0.5), note, _STEP_VELOCITY[symbol])
        if crash:
            writer.add(bar * _BEATS_PER_BAR, _DRUM_BEATS[_CRASH], _CRASH, 112.0)
        if fill_beats:
            for step, note, velocity in _fill_hits(rng, fill_beats, groove.swing > 0):
                writer.add(bar * _BEATS_PER_BAR + step / 4, 0.5, note, velocity)
        crash = fill_beats > 0 and bar % _PHRASE_BARS == _PHRASE_BARS - 1
    return writer.part(kit, True, _DRUM_KITS[kit])


# --- Bass --------------------------------------------------------------------------------------------------------

_BASS_NAMES = {
    32: "Acoustic Bass",
    33: "Electric Bass (finger)",
    34: "Electric Bass (pick)",
    35: "Fretless Bass",
    36: "Slap Bass 1",
    37: "Slap Bass 2",
    38: "Synth Bass 1",
    39: "Synth Bass 2",
}
_BASS_PROGRAMS = {
    "root_eighths": (33, 34, 38),
    "root_fifth": (32, 33, 35, 34),
    "octave_pops": (36, 37, 38, 39, 33),
    "syncopated": (33, 34, 36, 39, 35),
    "walking": (32, 35, 33),
}
_BASS_LOW, _BASS_HIGH = 28, 55  # E1..G3
_SYNCOPATED_BASS = ("x..x..x...x.x...", "x.....x.x..x....", "x..x....x.x..x..", "x.x...x...x..x..")


def _bass_root(pitch_class: int) -> int:
    """The chord root in the bass's home octave, E1..D#2."""
    return _BASS_LOW + (pitch_class - _BASS_LOW) % 12


def _approach(rng: np.random.Generator, target: int) -> int:
    """A note leading into ``target``: a chromatic neighbour or the fifth below, kept in the bass range."""
    pitch = target + _pick(rng, (-1, 1, -5))
    return pitch if _BASS_LOW <= pitch <= _BASS_HIGH else target + 1


def _bass_steps(rng: np.random.Generator, style: str, rhythm: str, span: int) -> list[tuple[float, float, str]]:
    """``(beat offset, beats, tone)`` of one chord span; tone is ``root``, ``fifth``, ``octave``, ``walk`` or
    ``approach`` (leads into the next chord)."""
    if style == "root_eighths":
        steps = [(i / 2, 0.45, "root") for i in range(2 * span)]
    elif style == "octave_pops":
        steps = [(i / 2, 0.3, "octave" if i % 2 else "root") for i in range(2 * span)]
    elif style == "root_fifth":
        steps = [(float(i), 0.9, "fifth" if i % 2 else "root") for i in range(span)]
    elif style == "walking":
        steps = [(float(i), 0.95, "root" if i == 0 else "walk") for i in range(span)]
    else:
        hits = [i for i, symbol in enumerate(rhythm[: 4 * span]) if symbol == "x"]
        tones = ("root", "root", "root", "octave", "fifth")
        steps = [
            (hit / 4, min(0.8 * (end - hit) / 4, 1.0), _pick(rng, tones))
            for hit, end in itertools.pairwise([*hits, 4 * span])
        ]
    if style == "walking" or (len(steps) > 1 and rng.random() < 0.4):
        offset, beats, _ = steps[-1]
        steps[-1] = (offset, beats, "approach")
    return steps


def _bass_part(rng: np.random.Generator, grid: _Grid, groove: _Groove) -> Part:
    """A bass line in one of several styles, following the chord roots, E1..G3."""
    style = _pick(rng, groove.bass_styles)
    program = _pick(rng, _BASS_PROGRAMS[style])
    rhythm = _pick(rng, _SYNCOPATED_BASS)
    writer = _NoteWriter(rng, grid, timing_sd=0.005, velocity_sd=5.0)
    for start, chord, next_chord in grid.chord_spans():
        root = _bass_root(chord.root)
        walk = sorted(root + interval for interval in (*chord.intervals[1:], 12))
        if style == "walking" and rng.random() < 0.5:
            walk.reverse()
        for offset, beats, tone in _bass_steps(rng, style, rhythm, grid.beats_per_chord):
            if tone == "approach":
                pitch = _approach(rng, _bass_root(next_chord.root))
            elif tone == "walk":
                pitch = walk[min(int(offset) - 1, len(walk) - 1)]
            else:
                pitch = root + {"root": 0, "fifth": 7, "octave": 12}[tone]
            accent = 12.0 if offset % 1 == 0 else 0.0
            writer.add(start + offset, beats, pitch, 84.0 + accent)
    return writer.part(program, False, _BASS_NAMES[program])


# --- Harmony ("other") -------------------------------------------------------------------------------------------

_COMP_NAMES = {
    0: "Acoustic Grand Piano",
    1: "Bright Acoustic Piano",
    2: "Electric Grand Piano",
    4: "Electric Piano 1",
    5: "Electric Piano 2",
    7: "Clavinet",
    16: "Drawbar Organ",
    17: "Percussive Organ",
    18: "Rock Organ",
    24: "Acoustic Guitar (nylon)",
    25: "Acoustic Guitar (steel)",
    26: "Electric Guitar (jazz)",
    27: "Electric Guitar (clean)",
    29: "Overdriven Guitar",
}
_PAD_NAMES = {
    48: "String Ensemble 1",
    49: "String Ensemble 2",
    50: "Synth Strings 1",
    19: "Church Organ",
    88: "Pad 1 (new age)",
    89: "Pad 2 (warm)",
    90: "Pad 3 (polysynth)",
    91: "Pad 4 (choir)",
    94: "Pad 7 (halo)",
    95: "Pad 8 (sweep)",
}
_GUITARS = frozenset({24, 25, 26, 27, 29})
_VOICING_LOW = 52  # E3
_COMP_RHYTHMS = (
    "x.......x.......",
    "x...x...x...x...",
    "x..x..x...x..x..",
    "..x...x...x...x.",
    "x.....x...x.....",
    "x..x....x..x....",
)
_ARPEGGIO_ORDERS = ((0, 1, 2, 3), (0, 1, 2, 3, 2, 1), (0, 2, 1, 2), (3, 2, 1, 0))


def _voicings(chord: _Chord) -> list[tuple[int, ...]]:
    """Close-position voicings of ``chord``, one per inversion, lowest note in E3..D#4 (so the top stays <= D5)."""
    classes = chord.pitch_classes
    voicings = []
    for inversion in range(len(classes)):
        voicing = [_VOICING_LOW + (classes[inversion] - _VOICING_LOW) % 12]
        for pitch_class in classes[inversion + 1 :] + classes[:inversion]:
            voicing.append(voicing[-1] + (pitch_class - voicing[-1]) % 12)
        voicings.append(tuple(voicing))
    return voicings


def _voice_lead(chords: Sequence[_Chord]) -> list[tuple[int, ...]]:
    """Pick, chord by chord, the voicing that moves the voices least (the first sits nearest middle E)."""

    def distance(voicing: tuple[int, ...], previous: tuple[int, ...] | None) -> float:
        if previous is None:
            return abs(float(np.mean(voicing)) - 64.0)
        forward = sum(min(abs(a - b) for b in previous) for a in voicing)
        return forward + sum(min(abs(a - b) for a in voicing) for b in previous)

    voiced: list[tuple[int, ...]] = []
    for chord in chords:
        previous = voiced[-1] if voiced else None
        voiced.append(min(_voicings(chord), key=lambda voicing: distance(voicing, previous)))
    return voiced


def _comp_notes(rng: np.random.Generator, grid: _Grid, writer: _NoteWriter, program: int) -> None:
    """Block-chord comping in a rhythm picked per song, strummed a little on guitars."""
    rhythm = _pick(rng, _COMP_RHYTHMS)
    legato = _pick(rng, (0.5, 0.9))
    strum_beats = 0.012 / grid.beat_seconds if program in _GUITARS else 0.0
    voicings = _voice_lead(grid.chords)
    change_steps = range(0, _STEPS_PER_BAR, 4 * grid.beats_per_chord)
    hits = sorted({step for step, symbol in enumerate(rhythm) if symbol == "x"} | set(change_steps))
    for bar in range(grid.num_bars):
        for hit, next_hit in itertools.pairwise([*hits, _STEPS_PER_BAR]):
            beat = bar * _BEATS_PER_BAR + hit / 4
            slot = int(beat // grid.beats_per_chord)
            end = min(bar * _BEATS_PER_BAR + next_hit / 4, (slot + 1) * grid.beats_per_chord)
            velocity = 80.0 if hit % 4 == 0 else 72.0
            for voice, pitch in enumerate(voicings[slot]):
                onset = beat + voice * strum_beats
                writer.add(onset, legato * (end - beat), pitch, velocity)


def _arpeggio_notes(rng: np.random.Generator, grid: _Grid, writer: _NoteWriter) -> None:
    """Broken chords in eighths (sixteenths at slow tempi) through the voice-led chord tones."""
    order = _pick(rng, _ARPEGGIO_ORDERS)
    step = 0.25 if grid.beat_seconds > 0.6 else 0.5
    for (start, _, _), voicing in zip(grid.chord_spans(), _voice_lead(grid.chords), strict=True):
        end = start + grid.beats_per_chord
        for i in range(round(grid.beats_per_chord / step)):
            beat = start + i * step
            pitch = voicing[order[i % len(order)] % len(voicing)]
            writer.add(beat, min(2.0 * step, end - beat), pitch, 78.0 if i % 2 == 0 else 68.0)


def _pad_notes(grid: _Grid, writer: _NoteWriter, velocity: float) -> None:
    """One sustained voice-led chord per harmonic slot."""
    for (start, _, _), voicing in zip(grid.chord_spans(), _voice_lead(grid.chords), strict=True):
        for pitch in voicing:
            writer.add(start, grid.beats_per_chord - 0.05, pitch, velocity)


def _harmony_parts(rng: np.random.Generator, grid: _Grid) -> tuple[Part, ...]:
    """Chords from the progression: comping or arpeggios, a sustained pad, or comping layered over a pad."""
    parts = []
    if rng.random() < 0.25:
        pad_only = True
    else:
        pad_only = False
        program = _pick(rng, tuple(_COMP_NAMES))
        writer = _NoteWriter(rng, grid, timing_sd=0.006, velocity_sd=5.0)
        if rng.random() < 0.55:
            _comp_notes(rng, grid, writer, program)
        else:
            _arpeggio_notes(rng, grid, writer)
        parts.append(writer.part(program, False, _COMP_NAMES[program]))
    if pad_only or rng.random() < 0.4:
        program = _pick(rng, tuple(_PAD_NAMES))
        writer = _NoteWriter(rng, grid, timing_sd=0.004, velocity_sd=3.0)
        _pad_notes(grid, writer, 74.0 if pad_only else 62.0)
        parts.append(writer.part(program, False, _PAD_NAMES[program]))
    return tuple(parts)


# --- Lead line ("vocals") ----------------------------------------------------------------------------------------

_LEAD_NAMES = {
    52: "Choir Aahs",
    53: "Voice Oohs",
    54: "Synth Voice",
    73: "Flute",
    65: "Alto Sax",
    66: "Tenor Sax",
    56: "Trumpet",
    71: "Clarinet",
    40: "Violin",
    80: "Lead 1 (square)",
    81: "Lead 2 (sawtooth)",
}
_VOICE_WEIGHTS = {52: 3.0, 53: 3.0, 54: 2.0}  # sung timbres are picked more often than instrument leads
_LEAD_LOW, _LEAD_HIGH = 60, 84  # C4..C6
_SLOW_RHYTHM = ((0.25, 0.5, 1.0, 1.5), (1.0, 4.0, 3.0, 1.0))
_FAST_RHYTHM = ((0.5, 1.0, 1.5, 2.0), (3.0, 4.0, 1.0, 1.0))


class _Melody:
    """A scale-degree random walk: mostly steps, occasional leaps resolved the other way, pulled to a centre."""

    def __init__(self, rng: np.random.Generator, grid: _Grid) -> None:
        self._rng = rng
        self.pool = [p for p in range(_LEAD_LOW, _LEAD_HIGH + 1) if (p - grid.tonic) % 12 in grid.scale]
        self._centre = int(np.argmin([abs(p - int(rng.integers(65, 76))) for p in self.pool]))
        self.index = self._centre
        self._last_step = 0

    def step(self) -> None:
        """Move by a repeat, step, skip or leap; a leap is followed by a step back."""
        if abs(self._last_step) >= 3:
            step = -int(np.sign(self._last_step))
        else:
            size = _pick(self._rng, (0, 1, 2, 3, 4, 5), (0.08, 0.64, 0.15, 0.07, 0.04, 0.02))
            up = 0.5 - 0.06 * (self.index - self._centre)
            step = size if self._rng.random() < float(np.clip(up, 0.15, 0.85)) else -size
        new = int(np.clip(self.index + step, 0, len(self.pool) - 1))
        self._last_step = new - self.index
        self.index = new

    def land_on(self, chord: _Chord) -> None:
        """Snap to the nearest chord tone (root, third or fifth)."""
        tones = [i for i, pitch in enumerate(self.pool) if pitch % 12 in chord.triad_classes]
        self.index = min(tones, key=lambda i: (abs(i - self.index), i))

    @property
    def pitch(self) -> int:
        return self.pool[self.index]


def _lead_part(rng: np.random.Generator, grid: _Grid) -> Part:
    """A monophonic, vocal-like line: 1-2 bar phrases separated by rests, chord tones on strong beats."""
    program = _pick(rng, tuple(_LEAD_NAMES), [_VOICE_WEIGHTS.get(program, 1.0) for program in _LEAD_NAMES])
    durations, weights = _SLOW_RHYTHM if grid.beat_seconds > 0.6 else _FAST_RHYTHM
    melody = _Melody(rng, grid)
    writer = _NoteWriter(rng, grid, timing_sd=0.008, velocity_sd=4.0)
    beat = float(_pick(rng, (1.0, 2.0, 3.5, 4.0)))
    while beat < grid.num_beats:
        phrase_end = beat + _BEATS_PER_BAR * _pick(rng, (1, 2)) - _pick(rng, (0.5, 1.0, 1.5))
        loudness = rng.uniform(72.0, 100.0)
        melody.land_on(grid.chord_at(beat))
        while beat < phrase_end:
            beats = min(float(_pick(rng, durations, weights)), phrase_end - beat)
            last = phrase_end - (beat + beats) < 0.5
            if last:
                beats = max(beats, 1.0)
                melody.land_on(grid.chord_at(beat))
            strong = beat % 2 == 0
            writer.add(beat, 0.92 * beats, melody.pitch, loudness + (8.0 if strong else 0.0) - (6.0 if last else 0.0))
            beat += beats
            melody.step()
            if beat % 2 == 0 and beat < phrase_end:
                melody.land_on(grid.chord_at(beat))
        pickup = float(_pick(rng, (0.0, 0.0, 0.5, 1.0)))
        beat = max(_BEATS_PER_BAR * math.ceil((beat + 1.0) / _BEATS_PER_BAR) - pickup, beat + 1.0)
    return writer.part(program, False, _LEAD_NAMES[program], monophonic=True)


# --- Song --------------------------------------------------------------------------------------------------------


def groove_drums(rng: np.random.Generator, seconds: float) -> tuple[Part, float]:
    """A drum part of one of the arranger's grooves over ``seconds``, and the tempo (BPM) it was drawn at: drums
    for music the arranger did not write (:mod:`mixenv.data.synth.classics`), which then plays at that tempo."""
    groove = _pick(rng, _GROOVES)
    tempo = round(float(rng.uniform(*groove.tempo_range)), 1)
    beat_seconds = 60.0 / tempo
    bars = math.ceil(seconds / (_BEATS_PER_BAR * beat_seconds))
    tonic_chord = _parse_numeral("I", 0, _SCALES["major"])  # the drums never read the harmony
    grid = _Grid(seconds, beat_seconds, groove.swing, 0, _SCALES["major"], (tonic_chord,) * bars, _BEATS_PER_BAR)
    return _drum_part(rng, grid, groove), tempo


def arrange_song(rng: np.random.Generator, seconds: float) -> Arrangement:
    """Arrange a ``seconds``-long song (notes end :data:`RELEASE_ROOM_SECONDS` early) from ``rng`` alone.

    Raises:
        ValueError: If ``seconds`` leaves no room for notes before the release room.
    """
    if seconds <= RELEASE_ROOM_SECONDS + _MIN_NOTE_SECONDS:
        raise ValueError(f"song of {seconds} s is too short: need more than {RELEASE_ROOM_SECONDS} s of release room")
    groove = _pick(rng, _GROOVES)
    tempo = round(float(rng.uniform(*groove.tempo_range)), 1)
    tonic = int(rng.integers(12))
    mode = _pick(rng, ("major", "minor"))
    progression = _pick(rng, _PROGRESSIONS[mode])
    beat_seconds = 60.0 / tempo
    chords_per_bar = _pick(rng, (1, 2), (0.5, 0.5) if tempo < 100 else (0.8, 0.2))
    num_bars = math.ceil(seconds / (_BEATS_PER_BAR * beat_seconds))
    scale = _SCALES[mode]
    cycle = [_parse_numeral(numeral, tonic, scale) for numeral in progression]
    chords = tuple(cycle[i % len(cycle)] for i in range(num_bars * chords_per_bar))
    grid = _Grid(seconds, beat_seconds, groove.swing, tonic, scale, chords, _BEATS_PER_BAR // chords_per_bar)
    parts = {
        "drums": (_drum_part(rng, grid, groove),),
        "bass": (_bass_part(rng, grid, groove),),
        "other": _harmony_parts(rng, grid),
        "vocals": (_lead_part(rng, grid),),
    }
    key = f"{(_MAJOR_NAMES if mode == 'major' else _MINOR_NAMES)[tonic]} {mode}"
    return Arrangement(float(seconds), tempo, key, progression, groove.name, {role: parts[role] for role in ROLES})
