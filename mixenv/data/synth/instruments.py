"""A band of DSP instruments for the ``folk`` evaluation set: no soundfont, so no timbre the training corpus knows.

* :func:`singer`: a sung line from a band-limited pulse through vowel formants, with glides, vibrato and breath;
* :func:`drum_kit`: kick, snare and hi-hats by modal and noise synthesis, each piece drawn once per song;
* :func:`synth_bass`: a subtractive bass (saw and sub sine through a resonant low-pass with a filter envelope);
* :func:`fm_keys`: a two-operator FM electric piano, the two channels slightly detuned.

Every function renders a list of :class:`~mixenv.data.synth.arrange.Note` (drums: GM pitches 36 kick, 38 snare,
42 closed and 46 open hat) to float32 audio at the song's rate, drawing only from the generator it is given.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import scipy.signal

from mixenv.data.synth.arrange import Note

KICK, SNARE, CLOSED_HAT, OPEN_HAT = 36, 38, 42, 46
VOWELS: dict[str, tuple[tuple[float, float, float], ...]] = {
    # (formant Hz, bandwidth Hz, gain) for a sung vowel, after Peterson & Barney's averages.
    "a": ((800.0, 80.0, 1.0), (1150.0, 90.0, 0.5), (2900.0, 120.0, 0.25)),
    "e": ((400.0, 70.0, 1.0), (2000.0, 100.0, 0.35), (2600.0, 120.0, 0.25)),
    "i": ((300.0, 60.0, 1.0), (2300.0, 100.0, 0.3), (3000.0, 120.0, 0.2)),
    "o": ((450.0, 70.0, 1.0), (800.0, 80.0, 0.45), (2830.0, 100.0, 0.15)),
    "u": ((325.0, 50.0, 1.0), (700.0, 60.0, 0.3), (2530.0, 170.0, 0.1)),
}


def hz(pitch: float | np.ndarray) -> float | np.ndarray:
    """Frequency of a MIDI pitch (or of each of an array of them), in Hz."""
    return 440.0 * 2 ** ((pitch - 69) / 12)


def saw(frequency: np.ndarray, sample_rate: int, phase: float = 0.0) -> np.ndarray:
    """A band-limited sawtooth (PolyBLEP) following ``frequency`` (Hz, one value per sample), in [-1, 1]."""
    step = np.clip(frequency / sample_rate, 1e-6, 0.49)
    t = (phase + np.cumsum(step)) % 1.0
    out = 2.0 * t - 1.0
    start, end = t < step, t > 1.0 - step
    x = t[start] / step[start]
    out[start] -= x + x - x * x - 1.0
    x = (t[end] - 1.0) / step[end]
    out[end] -= x * x + x + x + 1.0
    return out


def singer(notes: Sequence[Note], sample_rate: int, num_samples: int, rng: np.random.Generator) -> np.ndarray:
    """A sung line ``(1, num_samples)``: one vowel per note, 60 ms glides, vibrato after the onset, breath noise."""
    vibrato_hz, vibrato_cents = rng.uniform(4.5, 6.5), rng.uniform(15.0, 45.0)
    breath, brightness = rng.uniform(0.01, 0.05), rng.uniform(0.5, 1.0)
    out = np.zeros(num_samples)
    previous = None
    for note in notes:
        on, off = round(note.start_seconds * sample_rate), min(round(note.end_seconds * sample_rate), num_samples)
        tail = min(num_samples, off + round(0.08 * sample_rate))
        if tail <= on:
            continue
        t = np.arange(tail - on) / sample_rate
        pitch = np.full(t.size, float(note.pitch))
        if previous is not None:  # glide from the previous note
            glide = np.clip(t / 0.06, 0.0, 1.0)
            pitch = previous + (pitch - previous) * glide
        onset_ramp = np.clip((t - 0.15) / 0.2, 0.0, 1.0)
        pitch += onset_ramp * vibrato_cents / 100 * np.sin(2 * np.pi * vibrato_hz * t)
        source = saw(hz(pitch), sample_rate, rng.random())
        source = scipy.signal.lfilter([1.0 - brightness * 0.9], [1.0, -brightness * 0.9], source)  # spectral tilt
        source += breath * rng.standard_normal(t.size)
        vowel = VOWELS[str(rng.choice(list(VOWELS)))]
        voiced = sum(gain * _resonator(source, f, bw, sample_rate) for f, bw, gain in vowel)
        envelope = np.minimum(
            np.clip(t / 0.03, 0.0, 1.0), np.clip((tail - on - t * sample_rate) / (0.08 * sample_rate), 0.0, 1.0)
        )
        out[on:tail] += voiced * envelope * note.velocity / 127
        previous = float(note.pitch)
    return _normalise(out[None])


def drum_kit(hits: Sequence[Note], sample_rate: int, num_samples: int, rng: np.random.Generator) -> np.ndarray:
    """A stereo kit ``(2, num_samples)``: each piece synthesised once for the song, placed at every hit."""
    pieces = {
        KICK: (_kick(rng, sample_rate), 0.0),
        SNARE: (_snare(rng, sample_rate), rng.uniform(-0.1, 0.1)),
        CLOSED_HAT: (_hat(rng, sample_rate, rng.uniform(0.02, 0.05)), rng.uniform(0.2, 0.5)),
        OPEN_HAT: (_hat(rng, sample_rate, rng.uniform(0.15, 0.35)), rng.uniform(0.2, 0.5)),
    }
    out = np.zeros((2, num_samples))
    for hit in hits:
        sound, pan = pieces[hit.pitch]
        on = round(hit.start_seconds * sample_rate)
        if on >= num_samples:
            continue
        part = sound[: num_samples - on] * hit.velocity / 127
        out[0, on : on + part.size] += part * np.sqrt(0.5 * (1 - pan))
        out[1, on : on + part.size] += part * np.sqrt(0.5 * (1 + pan))
    return _normalise(out)


def synth_bass(notes: Sequence[Note], sample_rate: int, num_samples: int, rng: np.random.Generator) -> np.ndarray:
    """A subtractive bass ``(1, num_samples)``: saw plus a sub sine, a decaying low-pass sweep per note."""
    cutoff, sweep, sub = rng.uniform(250.0, 700.0), rng.uniform(1.5, 4.0), rng.uniform(0.3, 0.8)
    out = np.zeros(num_samples)
    for note in notes:
        on, off = round(note.start_seconds * sample_rate), min(round(note.end_seconds * sample_rate), num_samples)
        if off <= on:
            continue
        t = np.arange(off - on) / sample_rate
        f = np.full(t.size, hz(float(note.pitch)))
        tone = saw(f, sample_rate) + sub * np.sin(2 * np.pi * f * t)
        corner = cutoff * (1 + sweep * np.exp(-t / 0.08))
        sos = scipy.signal.butter(2, min(float(corner.mean()), 0.45 * sample_rate), fs=sample_rate, output="sos")
        filtered = scipy.signal.sosfilt(sos, tone)
        envelope = np.minimum(np.clip(t / 0.005, 0, 1), np.clip((t[-1] - t) / 0.03, 0, 1)) * np.exp(-t / 1.5)
        out[on:off] += filtered * envelope * note.velocity / 127
    return _normalise(out[None])


def fm_keys(notes: Sequence[Note], sample_rate: int, num_samples: int, rng: np.random.Generator) -> np.ndarray:
    """A two-operator FM electric piano ``(2, num_samples)``, left and right detuned by a few cents."""
    ratio, index, decay = float(rng.choice([1.0, 2.0, 3.0])), rng.uniform(1.0, 4.0), rng.uniform(0.6, 2.0)
    detune = rng.uniform(2.0, 8.0) / 1200
    out = np.zeros((2, num_samples))
    for note in notes:
        on, off = round(note.start_seconds * sample_rate), min(round(note.end_seconds * sample_rate), num_samples)
        tail = min(num_samples, off + round(0.2 * sample_rate))
        if tail <= on:
            continue
        t = np.arange(tail - on) / sample_rate
        release = np.clip((tail - on - t * sample_rate) / (0.2 * sample_rate), 0.0, 1.0)
        envelope = np.exp(-t / decay) * np.clip(t / 0.003, 0, 1) * np.where(t * sample_rate < off - on, 1.0, release)
        for channel, cents in enumerate((-detune, detune)):
            f = hz(note.pitch) * 2**cents
            modulator = index * np.exp(-t / (0.3 * decay)) * np.sin(2 * np.pi * ratio * f * t)
            out[channel, on:tail] += np.sin(2 * np.pi * f * t + modulator) * envelope * note.velocity / 127
    return _normalise(out)


def _resonator(x: np.ndarray, frequency: float, bandwidth: float, sample_rate: int) -> np.ndarray:
    """A two-pole resonance at ``frequency`` with ``bandwidth`` (a formant), unit gain at its peak."""
    frequency = min(frequency, 0.45 * sample_rate)
    r = np.exp(-np.pi * bandwidth / sample_rate)
    theta = 2 * np.pi * frequency / sample_rate
    return scipy.signal.lfilter([1.0 - r], [1.0, -2.0 * r * np.cos(theta), r * r], x)


def _kick(rng: np.random.Generator, sample_rate: int) -> np.ndarray:
    t = np.arange(round(0.6 * sample_rate)) / sample_rate
    low, high, drop = rng.uniform(42.0, 60.0), rng.uniform(110.0, 180.0), rng.uniform(0.02, 0.05)
    phase = 2 * np.pi * np.cumsum(low + (high - low) * np.exp(-t / drop)) / sample_rate
    click = rng.standard_normal(t.size) * np.exp(-t / 0.002) * rng.uniform(0.1, 0.4)
    return np.sin(phase) * np.exp(-t / rng.uniform(0.15, 0.35)) + click


def _snare(rng: np.random.Generator, sample_rate: int) -> np.ndarray:
    t = np.arange(round(0.4 * sample_rate)) / sample_rate
    body = np.sin(2 * np.pi * rng.uniform(160.0, 240.0) * t) * np.exp(-t / rng.uniform(0.04, 0.1))
    band = scipy.signal.butter(2, [1_500.0, min(7_000.0, 0.45 * sample_rate)], "bandpass", fs=sample_rate, output="sos")
    wires = scipy.signal.sosfilt(band, rng.standard_normal(t.size)) * np.exp(-t / rng.uniform(0.08, 0.18))
    return body + rng.uniform(0.8, 1.6) * wires


def _hat(rng: np.random.Generator, sample_rate: int, decay: float) -> np.ndarray:
    t = np.arange(round((decay * 5 + 0.01) * sample_rate)) / sample_rate
    high = scipy.signal.butter(
        2, min(rng.uniform(6_000.0, 9_000.0), 0.45 * sample_rate), "highpass", fs=sample_rate, output="sos"
    )
    return scipy.signal.sosfilt(high, rng.standard_normal(t.size)) * np.exp(-t / decay) * 0.5


def _normalise(audio: np.ndarray) -> np.ndarray:
    """Peak at -1 dBFS (the recording sets the real level), float32."""
    peak = float(np.max(np.abs(audio)))
    return (audio * (0.89 / peak if peak > 0 else 1.0)).astype(np.float32)
