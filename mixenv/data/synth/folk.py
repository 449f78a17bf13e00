"""The ``folk`` evaluation set: real folk tunes, arranged by other rules and played by a band of DSP instruments.

A tune from the Essen folk-song collection in music21's corpus (about 8 500 melodies) is the sung lead. Its chords
are derived bar by bar (the diatonic triad that holds the most of the bar's melody), and a bass line, a keyboard
part and a drum pattern (Euclidean rhythms, with fills) are written from them: another arranger than the training
corpus's. The instruments are :mod:`mixenv.data.synth.instruments` (a formant singer, a synthesised kit, a
subtractive bass, FM keys), so no timbre comes from a soundfont. A quarter of the songs have no drums and one in
seven no bass, so there are two to four stems. Recorded in a room (:mod:`mixenv.data.synth.room`) and mixed by a
wide-ranging engineer (:mod:`mixenv.data.synth.engineer`, spread 2), mastered to -14 LUFS.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from mixenv.data.corpus import CorpusConfig
from mixenv.data.synth import instruments
from mixenv.data.synth.arrange import Note
from mixenv.data.synth.draft import Draft
from mixenv.data.synth.engineer import EngineerPrior
from mixenv.data.synth.room import record, sample_recording
from mixenv.data.synth.scores import require_music21

TEMPO_BPM = (84.0, 132.0)
LEAD_CENTRE = (60, 67)
"""The sung line is transposed so its median pitch lands in this range."""
DROP_DRUMS, DROP_BASS = 0.25, 0.15
PRIOR = EngineerPrior(
    balance_lu={"drums": (-4.0, 0.0), "bass": (-6.0, -2.0), "other": (-8.0, -3.0)}, spread=2.0, lead_lufs=(-28.0, -20.0)
)
_SCALES = {"major": (0, 2, 4, 5, 7, 9, 11), "minor": (0, 2, 3, 5, 7, 8, 10)}
_TRIADS = {"major": (0, 1, 2, 3, 4, 5), "minor": (0, 2, 3, 4, 5, 6)}
"""Scale degrees whose diatonic triads the harmoniser may use (no diminished chords)."""


def played_by() -> str:
    """What plays the parts, for the manifest."""
    return "DSP band: formant singer, synthesised kit, subtractive bass, FM keys"


def draft(rng: np.random.Generator, config: CorpusConfig) -> Draft:
    """One tune of ``config.seconds`` at ``config.sample_rate``: two to four recorded stems and their prior."""
    title, melody, tonic, mode, beats_per_bar = _tune(rng)
    tempo = float(rng.uniform(*TEMPO_BPM))
    beat = 60.0 / tempo
    shift = int(rng.integers(*LEAD_CENTRE)) - int(np.median([p for p, _, _ in melody]))
    melody = [(p + shift, on, d) for p, on, d in melody]
    tonic = (tonic + shift) % 12
    bars = int(np.ceil(config.seconds / (beat * beats_per_bar)))
    melody = _loop(melody, bars * beats_per_bar)
    chords = [_chord(melody, bar, beats_per_bar, tonic, mode) for bar in range(bars)]
    dropped = {"drums": rng.random() < DROP_DRUMS, "bass": rng.random() < DROP_BASS}
    roles = [role for role in ("vocals", "drums", "bass", "other") if not dropped.get(role, False)]
    rate, num_samples = config.sample_rate, round(config.seconds * config.sample_rate)
    seconds = config.seconds
    writers = {
        "vocals": lambda: instruments.singer(_lead(rng, melody, beat, seconds), rate, num_samples, rng),
        "drums": lambda: instruments.drum_kit(_drums(rng, bars, beats_per_bar, beat, seconds), rate, num_samples, rng),
        "bass": lambda: instruments.synth_bass(
            _bass(rng, chords, beats_per_bar, beat, seconds), rate, num_samples, rng
        ),
        "other": lambda: instruments.fm_keys(_keys(rng, chords, beats_per_bar, beat, seconds), rate, num_samples, rng),
    }
    stems, recordings = {}, {}
    for role in roles:
        recordings[role] = sample_recording(rng, role)
        stems[role] = record(writers[role](), rate, recordings[role], rng)
    summary: dict[str, Any] = {
        "seconds": config.seconds,
        "tune": title,
        "tempo_bpm": round(tempo, 2),
        "key": f"{tonic} {mode}",
        "beats_per_bar": beats_per_bar,
        "chords": [list(c) for c in chords],
        "roles": roles,
    }
    return Draft(stems, PRIOR, summary, {"recording": {role: r.as_dict() for role, r in recordings.items()}})


Melody = list[tuple[int, float, float]]
"""(MIDI pitch, onset in beats, duration in beats)."""


def _tune(rng: np.random.Generator) -> tuple[str, Melody, int, str, int]:
    """A random Essen tune of at least 16 notes: title, melody, tonic pitch class, mode and beats per bar."""
    music21 = require_music21()
    files = sorted((Path(music21.__file__).parent / "corpus" / "essenFolksong").glob("*.abc"))
    while True:  # a few tunes are too short or do not parse; draw again (deterministic under the seed)
        file = files[int(rng.integers(len(files)))]
        numbers = re.findall(r"^X:\s*(\d+)", file.read_text(encoding="latin-1"), re.M)
        number = int(rng.choice(numbers))
        try:
            score = music21.converter.parse(file, number=number, format="abc")
        except Exception:  # music21 raises many kinds for malformed ABC
            continue
        notes = [n for n in score.stripTies().flatten().notes if n.isNote]
        if len(notes) < 16:
            continue
        key = score.analyze("key")
        signature = score.flatten().getElementsByClass("TimeSignature")
        beats = int(signature[0].beatCount) if signature else 4
        melody = [(int(n.pitch.midi), float(n.offset), float(n.quarterLength)) for n in notes]
        title = f"{file.stem} #{number}"
        return title, melody, int(key.tonic.pitchClass), "minor" if key.mode == "minor" else "major", max(beats, 2)


def _loop(melody: Melody, length_beats: float) -> Melody:
    """The melody repeated until it lasts ``length_beats``, starting on its first note."""
    first = melody[0][1]
    span = max(on + d for _, on, d in melody) - first
    out: Melody = []
    loop = 0.0
    while loop < length_beats:
        out += [(p, on - first + loop, d) for p, on, d in melody if on - first + loop < length_beats]
        loop += span
    return out


def _chord(melody: Melody, bar: int, beats_per_bar: int, tonic: int, mode: str) -> tuple[int, ...]:
    """The diatonic triad (pitch classes, root first) holding the most of the bar's melody, by duration."""
    scale = [(tonic + step) % 12 for step in _SCALES[mode]]
    start, end = bar * beats_per_bar, (bar + 1) * beats_per_bar
    best, best_score = None, -1.0
    for degree in _TRIADS[mode]:
        triad = tuple(scale[(degree + k) % 7] for k in (0, 2, 4))
        score = sum(
            min(on + d, end) - max(on, start) for p, on, d in melody if p % 12 in triad and on < end and on + d > start
        )
        score += 0.1 if degree in (0, 3, 4) else 0.0  # tonic, subdominant, dominant on a tie
        if score > best_score:
            best, best_score = triad, score
    assert best is not None
    return best


def _lead(rng: np.random.Generator, melody: Melody, beat: float, seconds: float) -> list[Note]:
    velocity = rng.uniform(80, 110)
    return _clip_notes(
        [
            Note(on * beat, (on + d * 0.95) * beat, p, int(np.clip(velocity + rng.normal(0, 8), 40, 127)))
            for p, on, d in melody
        ],
        seconds,
    )


def _bass(
    rng: np.random.Generator, chords: Sequence[tuple[int, ...]], beats_per_bar: int, beat: float, seconds: float
) -> list[Note]:
    """Roots (and fifths, on a root-fifth pattern) in the bass register, one note per beat or per half bar."""
    pattern = str(rng.choice(["roots", "root-fifth", "half"]))
    notes = []
    for bar, chord in enumerate(chords):
        root = 36 + chord[0]
        for b in range(beats_per_bar):
            if pattern == "half" and b % 2:
                continue
            pitch = root + 7 if pattern == "root-fifth" and b % 2 else root
            length = 2 if pattern == "half" else 1
            on = (bar * beats_per_bar + b) * beat
            notes.append(Note(on, on + length * beat * 0.9, pitch, int(rng.uniform(85, 115))))
    return _clip_notes(notes, seconds)


def _keys(
    rng: np.random.Generator, chords: Sequence[tuple[int, ...]], beats_per_bar: int, beat: float, seconds: float
) -> list[Note]:
    """Block chords on every beat, a held chord per bar, or eighth-note arpeggios, voiced around middle C."""
    pattern = str(rng.choice(["block", "held", "arpeggio"]))
    notes = []
    for bar, chord in enumerate(chords):
        voicing = [55 + (pc - 55) % 12 for pc in chord]
        start = bar * beats_per_bar * beat
        if pattern == "held":
            notes += [Note(start, start + beats_per_bar * beat * 0.98, p, int(rng.uniform(60, 85))) for p in voicing]
        elif pattern == "block":
            for b in range(beats_per_bar):
                on = start + b * beat
                notes += [Note(on, on + beat * 0.7, p, int(rng.uniform(55, 90))) for p in voicing]
        else:
            for step in range(2 * beats_per_bar):
                on = start + step * beat / 2
                notes.append(
                    Note(on, on + beat * 0.45, voicing[step % 3] + 12 * (step // 3 % 2), int(rng.uniform(55, 90)))
                )
    return _clip_notes(notes, seconds)


def _drums(rng: np.random.Generator, bars: int, beats_per_bar: int, beat: float, seconds: float) -> list[Note]:
    """Euclidean kick and hat patterns, snare on the back beats (or Euclidean), a fill every fourth bar."""
    steps = 4 * beats_per_bar
    kick = _euclid(int(rng.integers(2, 6)), steps, int(rng.integers(0, 2)))
    hats = _euclid(int(rng.choice([steps // 2, 3 * steps // 4, steps])), steps, 0)
    if beats_per_bar % 2 == 0 and rng.random() < 0.7:
        snare = [s % 8 == 4 for s in range(steps)]
    else:
        snare = _euclid(int(rng.integers(2, 4)), steps, int(rng.integers(2, 6)))
    swing = rng.uniform(0.0, 0.25) * beat / 4
    notes = []
    for bar in range(bars):
        fill = bar % 4 == 3
        for s in range(steps):
            on = (bar * steps + s) * beat / 4 + (swing if s % 2 else 0.0)
            accent = 1.0 if s % 4 == 0 else 0.8
            if kick[s]:
                notes.append(Note(on, on + 0.1, instruments.KICK, int(110 * accent)))
            if snare[s] or (fill and s >= steps - 4 and rng.random() < 0.7):
                notes.append(Note(on, on + 0.1, instruments.SNARE, int(rng.uniform(85, 120))))
            if hats[s]:
                hat = instruments.OPEN_HAT if s == steps - 2 and rng.random() < 0.3 else instruments.CLOSED_HAT
                notes.append(Note(on, on + 0.05, hat, int(rng.uniform(50, 90) * accent)))
    return _clip_notes(notes, seconds)


def _euclid(pulses: int, steps: int, rotation: int) -> list[bool]:
    """Bjorklund's evenly spread ``pulses`` over ``steps``, rotated."""
    pattern = [(i * pulses) % steps < pulses for i in range(steps)]
    return pattern[-rotation:] + pattern[:-rotation] if rotation else pattern


def _clip_notes(notes: Sequence[Note], seconds: float) -> list[Note]:
    return [
        Note(n.start_seconds, min(n.end_seconds, seconds), n.pitch, n.velocity)
        for n in notes
        if n.start_seconds < seconds
    ]
