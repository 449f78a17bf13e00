"""The corpus styles: one process each that turns a seed into a multitrack with a known mix.

| style | what is played | by what | stems | mix prior |
|---|---|---|---|---|
| ``synthetic`` | procedural pop/rock/jazz arrangements | TimGM6mb soundfont, colouration | 4 | the training prior |
| ``classics`` | quartets, Palestrina, madrigals, trecento (music21), drums half the time | the same | 2-4 | the same |
| ``chorales`` | Bach's four-part chorales (music21's corpus) | Merlin soundfont, a room | 3, no drums | conventional |
| ``folk`` | Essen folk tunes (music21's corpus), derived chords | DSP instruments, a room | 2-4 | wide |

``synthetic`` is the training corpus and ``classics`` (:mod:`mixenv.data.synth.classics`) more training music: real
compositions, played, recorded and mixed as the corpus is. The other two are out-of-domain evaluation sets, made
by other processes at every step (compositions, instruments, recording, mix prior, sample rate, stem count) and
never used for training or model selection; :mod:`mixenv.artifacts` defines them.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from mixenv.data.corpus import CorpusConfig
from mixenv.data.synth import chorales, classics, folk
from mixenv.data.synth.arrange import Part, arrange_song
from mixenv.data.synth.colour import apply_colouration, sample_colouration
from mixenv.data.synth.draft import Draft
from mixenv.data.synth.prior import sample_settings
from mixenv.data.synth.scores import require_music21
from mixenv.data.synth.soundfont import require_tinysoundfont, soundfont_path, soundfont_renderer
from mixenv.params import MixSettings, ParamSpace

MONO_ROLES = frozenset({"vocals", "bass"})


@dataclass(frozen=True)
class Style:
    """A corpus style: how a song is drafted, what plays it (named in the manifest) and what building it needs.

    Attributes:
        draft: Draws one song.
        played_by: Names the instruments.
        requires: Raises :class:`~mixenv.data.MissingDependencyError` (saying how to install it) for a missing
            package, before anything is built.
    """

    draft: Callable[[np.random.Generator, CorpusConfig], Draft]
    played_by: Callable[[], str]
    requires: Callable[[], object]


Arranger = Callable[[np.random.Generator, float], tuple[Mapping[str, Sequence[Part]], dict[str, Any]]]
"""Writes a song of some seconds: each role's parts (the roles it has, in role order) and a summary of them."""


def _recorded_on_timgm6mb(arranger: Arranger) -> Callable[[np.random.Generator, CorpusConfig], Draft]:
    """A training style from an arranger: its parts played on TimGM6mb, each stem coloured as a recording would
    colour it, and mixed by the training prior, which reads the colouration (:mod:`mixenv.data.synth.prior`)."""

    def draft(rng: np.random.Generator, config: CorpusConfig) -> Draft:
        rate, num_samples = config.sample_rate, round(config.seconds * config.sample_rate)
        parts, summary = arranger(rng, config.seconds)
        stems, colourations = {}, {}
        for role, role_parts in parts.items():
            clean = soundfont_renderer(rate).render(role_parts, num_samples)
            if role in MONO_ROLES:
                clean = clean.mean(axis=0, keepdims=True)
            colourations[role] = sample_colouration(rng, role)
            stems[role] = apply_colouration(clean, rate, colourations[role], rng)

        def prior(
            rng: np.random.Generator, stems: Mapping[str, np.ndarray], rate: int, space: ParamSpace
        ) -> MixSettings:
            return sample_settings(rng, stems, colourations, rate, space)

        colouration = {role: c.as_dict() for role, c in colourations.items()}
        return Draft(stems, prior, summary, {"colouration": colouration})

    return draft


def _arranged(rng: np.random.Generator, seconds: float) -> tuple[Mapping[str, Sequence[Part]], dict[str, Any]]:
    """The training corpus's songs: a procedural arrangement (:mod:`mixenv.data.synth.arrange`)."""
    arrangement = arrange_song(rng, seconds)
    return arrangement.parts, arrangement.describe()


def _timgm6mb() -> str:
    return soundfont_path().name


STYLES: dict[str, Style] = {
    "synthetic": Style(_recorded_on_timgm6mb(_arranged), _timgm6mb, require_tinysoundfont),
    "classics": Style(
        _recorded_on_timgm6mb(classics.arrange), _timgm6mb, lambda: (require_tinysoundfont(), require_music21())
    ),
    "chorales": Style(chorales.draft, chorales.played_by, lambda: (require_tinysoundfont(), chorales.played_by())),
    "folk": Style(folk.draft, folk.played_by, require_music21),
}
"""Every style by name; the names are :data:`mixenv.data.corpus.STYLES` (which reads corpora without building)."""
