"""The ``chorales`` evaluation set: J.S. Bach's four-part chorales, played on another soundfont, in a room.

Real compositions instead of procedural ones: a chorale from music21's corpus (371 four-part harmonisations ship
with it), an excerpt from a random bar at a slow tempo, transposed a little. The soprano is the lead (``vocals``:
a choir, a woodwind, a violin...), alto and tenor together make ``other`` (strings, organ, piano, horns), the bass
is ``bass`` (cello, double bass, bassoon, tuba): three stems, no drums. Played on the Merlin General-MIDI soundfont
(:func:`~mixenv.data.synth.soundfont.merlin_soundfont_path`), recorded in a room (:mod:`mixenv.data.synth.room`) and
mixed by the conventional engineer (:mod:`mixenv.data.synth.engineer`), mastered to -14 LUFS.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from mixenv.data.corpus import CorpusConfig
from mixenv.data.synth.arrange import Part
from mixenv.data.synth.draft import Draft
from mixenv.data.synth.engineer import EngineerPrior
from mixenv.data.synth.room import record, sample_recording
from mixenv.data.synth.scores import Voice, excerpt_notes, excerpt_start, part_voices, require_music21
from mixenv.data.synth.soundfont import merlin_soundfont_path, soundfont_renderer

TEMPO_BPM = (54.0, 84.0)
TRANSPOSE = (-3, 3)
LEAD_PROGRAMS = {
    52: "Choir Aahs",
    53: "Voice Oohs",
    73: "Flute",
    68: "Oboe",
    71: "Clarinet",
    40: "Violin",
    56: "Trumpet",
}
INNER_PROGRAMS = {
    48: "String Ensemble",
    19: "Church Organ",
    0: "Piano",
    60: "French Horn",
    41: "Viola",
    49: "Slow Strings",
}
BASS_PROGRAMS = {42: "Cello", 43: "Contrabass", 70: "Bassoon", 58: "Tuba", 32: "Acoustic Bass"}
PRIOR = EngineerPrior(balance_lu={"other": (-5.0, -2.0), "bass": (-6.0, -3.0)}, spread=1.0)
"""A conventional balance for a chorale: the inner voices close under the lead, the bass a little further."""


def played_by() -> str:
    """What plays the parts, for the manifest (and a check that the soundfont and music21 are there)."""
    require_music21()
    return merlin_soundfont_path().name


def draft(rng: np.random.Generator, config: CorpusConfig) -> Draft:
    """One chorale excerpt of ``config.seconds`` at ``config.sample_rate``: three recorded stems and their prior."""
    name, voices = _four_voices(rng)
    tempo = float(rng.uniform(*TEMPO_BPM))
    transpose = int(rng.integers(TRANSPOSE[0], TRANSPOSE[1] + 1))
    seconds_per_beat = 60.0 / tempo
    length_beats = config.seconds / seconds_per_beat
    start = excerpt_start(rng, voices, length_beats)
    lead, inner, bass = (int(rng.choice(list(p))) for p in (LEAD_PROGRAMS, INNER_PROGRAMS, BASS_PROGRAMS))
    tenor = int(rng.choice(list(INNER_PROGRAMS))) if rng.random() < 0.5 else inner
    programs = {"vocals": [lead], "other": [inner, tenor], "bass": [bass]}
    roles = {"vocals": [voices[0]], "other": [voices[1], voices[2]], "bass": [voices[3]]}
    rate, num_samples = config.sample_rate, round(config.seconds * config.sample_rate)
    renderer = soundfont_renderer(rate, merlin_soundfont_path())
    stems, recordings = {}, {}
    for role in ("vocals", "bass", "other"):  # role order of the training corpus, drums left out
        parts = [
            Part(program, False, excerpt_notes(rng, voice, start, seconds_per_beat, transpose, config.seconds), role)
            for program, voice in zip(programs[role], roles[role], strict=True)
        ]
        clean = renderer.render(parts, num_samples)
        if role != "other":
            clean = clean.mean(axis=0, keepdims=True)
        recordings[role] = sample_recording(rng, role)
        stems[role] = record(clean, rate, recordings[role], rng)
    stems = {role: stems[role] for role in ("vocals", "bass", "other")}
    summary: dict[str, Any] = {
        "seconds": config.seconds,
        "chorale": name,
        "tempo_bpm": round(tempo, 2),
        "transpose": transpose,
        "start_beat": start,
        "programs": {role: [_name(p) for p in ps] for role, ps in programs.items()},
    }
    return Draft(stems, PRIOR, summary, {"recording": {role: r.as_dict() for role, r in recordings.items()}})


def _four_voices(rng: np.random.Generator) -> tuple[str, list[Voice]]:
    """A random chorale of exactly four voices (soprano, alto, tenor, bass), as notes."""
    music21 = require_music21()
    paths = sorted(Path(p) for p in music21.corpus.getComposer("bach") if str(p).endswith((".mxl", ".xml")))
    first = int(rng.integers(len(paths)))
    for offset in range(len(paths)):  # the next file when one has instrument parts besides the four voices
        path = paths[(first + offset) % len(paths)]
        score = music21.corpus.parse(str(path))
        if len(score.parts) == 4:
            voices = part_voices(score)
            if all(voices):
                return path.stem, voices
    raise RuntimeError("music21's corpus holds no four-part Bach chorale")


def _name(program: int) -> str:
    for table in (LEAD_PROGRAMS, INNER_PROGRAMS, BASS_PROGRAMS):
        if program in table:
            return table[program]
    return str(program)
