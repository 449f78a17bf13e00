"""Real compositions as notes: music21's corpus read into voices, and an excerpt of a voice in seconds.

Shared by the styles that play real music (:mod:`~mixenv.data.synth.chorales`, :mod:`~mixenv.data.synth.folk`,
:mod:`~mixenv.data.synth.classics`); music21 is imported only when one of them builds.
"""

from __future__ import annotations

from collections.abc import Sequence
from types import ModuleType
from typing import Any

import numpy as np

from mixenv.data.songref import require_module
from mixenv.data.synth.arrange import Note

MUSIC21 = "music21>=9,<11"


def require_music21() -> ModuleType:
    """The ``music21`` module, imported only when a style of real music is built.

    Raises:
        MissingDependencyError: If it is not installed, saying how to install it.
    """
    return require_module(
        "music21",
        f"the styles of real music play compositions from music21's corpus; install it with `pip install '{MUSIC21}'`",
    )


Voice = Sequence[tuple[int, float, float]]
"""One voice as (MIDI pitch, onset in beats, duration in beats), ties merged."""


def part_voices(score: Any, chords: bool = False) -> list[Voice]:
    """Each part of a music21 score as notes, ties merged; a chord's notes too with ``chords``, else notes only."""
    voices = []
    for part in score.parts:
        flat = part.flatten()
        flat.stripTies(inPlace=True)  # on the flat copy: five times faster than a copy of the part with its measures
        voice = []
        for n in flat.notes:
            if n.isNote:
                voice.append((int(n.pitch.midi), float(n.offset), float(n.quarterLength)))
            elif chords and n.isChord:
                voice += [(int(p.midi), float(n.offset), float(n.quarterLength)) for p in n.pitches]
        voices.append(voice)
    return voices


def excerpt_start(rng: np.random.Generator, voices: Sequence[Voice], length_beats: float) -> float:
    """A start (in beats) on an onset of the first voice such that the excerpt fits; 0 if none does."""
    end = max(onset + duration for voice in voices for _, onset, duration in voice)
    starts = [onset for _, onset, _ in voices[0] if onset + length_beats <= end]
    return float(rng.choice(starts)) if starts else 0.0


def excerpt_notes(
    rng: np.random.Generator, voice: Voice, start: float, seconds_per_beat: float, transpose: int, seconds: float
) -> tuple[Note, ...]:
    """The voice's notes inside the excerpt, in seconds, humanised a little, looped if the piece runs out."""
    end = max(onset + duration for _, onset, duration in voice)
    notes, loop = [], 0.0
    phrase_velocity = rng.uniform(70, 100)
    while (loop - start) * seconds_per_beat < seconds:
        for pitch, onset, duration in voice:
            at = (onset + loop - start) * seconds_per_beat
            if at < 0 or at >= seconds:
                continue
            jitter = rng.normal(0.0, 0.008) if at > 0.05 else 0.0
            velocity = int(np.clip(phrase_velocity + rng.normal(0, 6), 40, 120))
            release = at + max(0.05, duration * seconds_per_beat * 0.95)
            notes.append(Note(max(0.0, at + jitter), min(release, seconds), pitch + transpose, velocity))
        loop += end
    return tuple(n for n in notes if n.end_seconds > n.start_seconds)
