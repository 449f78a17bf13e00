"""The ``classics`` training style: real part-writing from music21's corpus, played and mixed as the corpus is.

The procedural arranger writes one kind of music: a groove, a progression, a lead over comping. Real compositions
move otherwise: independent voices that cross and share a register, long notes against quick ones, no beat at all.
This style gives the models that music to learn from. An excerpt of a string quartet (Haydn, Mozart, Beethoven), a
mass or motet by Palestrina, a madrigal by Monteverdi or a fourteenth-century piece (music21's ``trecento``): the
highest part is the lead (``vocals``), the lowest the ``bass`` (in a two-part piece, half the time), the parts
between them ``other``; in half the songs one of the arranger's drum grooves plays under them, at a tempo the
groove suits. Each part gets a General-MIDI program drawn from wide families, played on the training soundfont,
and the stems are coloured and mixed as the training corpus's are (:mod:`mixenv.data.synth.styles`): only the
compositions and their scoring are new. Bach (whose chorales are an evaluation set) and the Essen folk songs (the
folk set's tunes) are never drawn, so the evaluation sets stay unheard.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from mixenv.data.synth.arrange import RELEASE_ROOM_SECONDS, Part, groove_drums
from mixenv.data.synth.scores import Voice, excerpt_notes, excerpt_start, part_voices, require_music21

COMPOSERS: Mapping[str, tuple[tuple[str, ...], tuple[float, float]]] = {
    "quartets": (("haydn", "mozart", "beethoven"), (60.0, 126.0)),
    "palestrina": (("palestrina",), (110.0, 170.0)),
    "madrigals": (("monteverdi",), (70.0, 130.0)),
    "trecento": (("trecento",), (90.0, 150.0)),
}
"""Group -> the music21 composers drawn from and the quarter-note tempo range (BPM) without drums; each group is
equally likely, whatever its number of pieces (Palestrina alone has 1 318)."""
DRUMS_CHANCE = 0.5
TRANSPOSE = (-4, 4)
SCORE_SUFFIXES = (".mxl", ".xml", ".krn")
LEAD_PROGRAMS = (0, 4, 11, 16, 22, 24, 26, 40, 41, 52, 53, 54, 56, 57, 60, 64, 65, 68, 69, 71, 72, 73, 75, 80, 81, 85)
"""Pianos, electric piano, vibraphone, organ, harmonica, guitars, violin, viola, voices, brass, saxophones, reeds,
pipes and synth leads."""
INNER_PROGRAMS = (0, 2, 4, 6, 11, 16, 19, 21, 24, 25, 27, 40, 41, 42, 46, 48, 49, 50, 52, 60, 61, 62, 68, 70, 71, 88)
"""Pianos, harpsichord, vibraphone, organs, accordion, guitars, strings, harp, choir, horns, brass, reeds, pads."""
BASS_PROGRAMS = (32, 33, 34, 35, 38, 39, 42, 43, 58, 70, 19, 87)
"""Basses (acoustic, electric, fretless, synth), cello, contrabass, tuba, bassoon, organ and a bass lead."""


def arrange(rng: np.random.Generator, seconds: float) -> tuple[dict[str, tuple[Part, ...]], dict[str, Any]]:
    """One excerpt of ``seconds``: the parts of each role it has (role order of the corpus) and a summary of them."""
    group = str(rng.choice(list(COMPOSERS)))
    composers, tempo_range = COMPOSERS[group]
    name, voices = _piece(rng, composers)
    drums, groove_tempo = groove_drums(rng, seconds) if rng.random() < DRUMS_CHANCE else (None, None)
    tempo = groove_tempo or round(float(rng.uniform(*tempo_range)), 1)
    transpose = int(rng.integers(TRANSPOSE[0], TRANSPOSE[1] + 1))
    voices = sorted(voices, key=lambda voice: -float(np.mean([pitch for pitch, _, _ in voice])))
    roles: dict[str, list[Voice]] = {"vocals": voices[:1]}
    if len(voices) > 2 or rng.random() < 0.5:
        roles["bass"] = voices[-1:]
        roles["other"] = voices[1:-1]
    else:
        roles["other"] = voices[1:]
    seconds_per_beat = 60.0 / tempo
    playing = seconds - RELEASE_ROOM_SECONDS
    start = excerpt_start(rng, voices, playing / seconds_per_beat)
    tables = {"vocals": LEAD_PROGRAMS, "other": INNER_PROGRAMS, "bass": BASS_PROGRAMS}
    parts: dict[str, tuple[Part, ...]] = {}
    if drums is not None:
        parts["drums"] = (drums,)
    for role in ("vocals", "bass", "other"):
        if not roles.get(role):
            continue
        shared = int(rng.choice(tables[role]))
        parts[role] = tuple(
            Part(
                shared if rng.random() < 0.5 else int(rng.choice(tables[role])),
                False,
                excerpt_notes(rng, voice, start, seconds_per_beat, transpose, playing),
                f"{group} {role} {k}",
            )
            for k, voice in enumerate(roles[role])
        )
    summary = {
        "seconds": seconds,
        "piece": name,
        "group": group,
        "tempo_bpm": tempo,
        "transpose": transpose,
        "start_beat": start,
        "groove": drums.name if drums is not None else None,
        "programs": {role: [part.program for part in role_parts] for role, role_parts in parts.items()},
    }
    return {role: parts[role] for role in ("vocals", "drums", "bass", "other") if role in parts}, summary


def _piece(rng: np.random.Generator, composers: tuple[str, ...]) -> tuple[str, list[Voice]]:
    """A random piece of ``composers`` with at least two parts that hold notes: its name and its voices."""
    music21 = require_music21()
    paths = sorted(
        Path(p) for composer in composers for p in music21.corpus.getComposer(composer) if p.suffix in SCORE_SUFFIXES
    )
    first = int(rng.integers(len(paths)))
    for offset in range(len(paths)):  # the next file when one does not parse, or is a collection, or has one part
        path = paths[(first + offset) % len(paths)]
        try:
            score = music21.corpus.parse(str(path))
        except Exception:  # music21 raises many kinds for a file it cannot read
            continue
        if not hasattr(score, "parts"):  # an opus of several scores
            continue
        voices = [voice for voice in part_voices(score, chords=True) if voice]
        if len(voices) >= 2:
            return path.relative_to(Path(music21.__file__).parent / "corpus").with_suffix("").as_posix(), voices
    raise RuntimeError(f"music21's corpus holds no piece of two or more parts by {', '.join(composers)}")
