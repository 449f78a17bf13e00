"""The audio a page plays: one excerpt of every condition, the low-passed anchor, all at one loudness, none clipping.

BS.1534-3 asks for stimuli of equal loudness (so that level is not what listeners rate), short excerpts (about 10 s)
and a low anchor: the reference low-passed at 3.5 kHz. Every condition of a page is cut from the same place so that
switching between them mid-loop lands on the same note.
"""

from __future__ import annotations

import numpy as np
import scipy.signal

from mixenv.listen.layout import ListenError
from mixenv.loudness import SILENCE_LUFS, integrated_lufs

TARGET_LUFS = -23.0
"""The loudness of every stimulus (EBU R 128's programme level: headroom for the loudest mixes' peaks)."""
CEILING_DBFS = -1.0
"""No stimulus peaks above this; a page whose loudest peak would is turned down as a whole, so loudness stays equal."""
ANCHOR_HZ = 3500.0
"""BS.1534-3's low anchor: the reference low-passed at 3.5 kHz."""
ANCHOR_ORDER = 8
"""Butterworth order of the anchor's low pass, run forward and backward (zero phase: it stays in time with the
others; 96 dB per octave in all)."""
FADE_SECONDS = 0.02
"""Raised-cosine fade in and out of every excerpt, so the loop's seam does not click."""


def excerpt_bounds(num_samples: int, sample_rate: int, seconds: float) -> tuple[int, int]:
    """(start, length) in samples of the middle ``seconds`` of a song, or the whole song if it is shorter."""
    length = min(num_samples, round(seconds * sample_rate))
    return (num_samples - length) // 2, length


def cut(audio: np.ndarray, sample_rate: int, start: int, length: int) -> np.ndarray:
    """The excerpt of ``(channels, samples)`` audio as float64 stereo (mono repeated), faded in and out."""
    part = np.array(audio[:, start : start + length], dtype=np.float64)  # a copy: the fade is applied in place
    if part.shape[0] == 1:
        part = np.repeat(part, 2, axis=0)
    ramp = min(part.shape[1] // 2, round(FADE_SECONDS * sample_rate))
    if ramp > 0:
        rise = 0.5 - 0.5 * np.cos(np.pi * np.arange(ramp) / ramp)
        part[:, :ramp] *= rise
        part[:, part.shape[1] - ramp :] *= rise[::-1]
    return part


def low_pass_anchor(audio: np.ndarray, sample_rate: int) -> np.ndarray:
    """``audio`` low-passed at :data:`ANCHOR_HZ` (zero phase), as BS.1534-3's low anchor.

    Raises:
        ListenError: If the sample rate leaves nothing above the cutoff to remove.
    """
    if sample_rate <= 2 * ANCHOR_HZ * 1.1:
        raise ListenError(
            f"songs at {sample_rate} Hz have almost nothing above the anchor's {ANCHOR_HZ:.0f} Hz cutoff, so the "
            "anchor would sound like the reference; use songs at 16 kHz or more"
        )
    sos = scipy.signal.butter(ANCHOR_ORDER, ANCHOR_HZ, fs=sample_rate, output="sos")
    return scipy.signal.sosfiltfilt(sos, audio, axis=-1)


def level_page(
    stimuli: dict[str, np.ndarray], sample_rate: int, target_lufs: float = TARGET_LUFS
) -> tuple[dict[str, np.ndarray], float]:
    """Every stimulus at ``target_lufs``, then all turned down together if one would peak above :data:`CEILING_DBFS`.

    Returns:
        The levelled stimuli (float32) and the page's common turn-down in dB (0 when nothing would peak over).

    Raises:
        ListenError: If a stimulus is silent (its name says which).
    """
    levelled = {}
    for name, audio in stimuli.items():
        lufs = integrated_lufs(audio, sample_rate)
        if lufs <= SILENCE_LUFS:
            raise ListenError(f"{name} is silent in the excerpt; choose other songs or a longer --seconds")
        levelled[name] = audio * 10.0 ** ((target_lufs - lufs) / 20.0)
    peak = max(float(np.max(np.abs(audio))) for audio in levelled.values())
    turn_down_db = max(0.0, 20.0 * np.log10(peak) - CEILING_DBFS)
    scale = 10.0 ** (-turn_down_db / 20.0)
    return {name: (audio * scale).astype(np.float32) for name, audio in levelled.items()}, turn_down_db
