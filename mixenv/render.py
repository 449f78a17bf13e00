"""The renderer: per-stem channel strips and a master bus on pedalboard, applied to whole buffers.

Signal flow (every stem, then the bus)::

    stem ─► HPF (2 x 1st order) ─► low shelf ─► peaking mid ─► high shelf ─► compressor ─► fader + pan ─┐
    stem ─► ...                                                                                         ├─► sum
                                                                                                        ┘
    sum ─► bus low shelf ─► bus high shelf ─► bus compressor ─► drive (or LUFS target) ─► brick-wall limiter

Mono stems are processed in mono (half the work) and become stereo at the pan stage; stereo stems are
balanced (each channel keeps its side). The pan law is constant-power with unity at centre: hard left gives
+3 dB on the left and silence on the right, so the neutral preset leaves a stereo stem untouched.

A :class:`Renderer` prebuilds one ``Pedalboard`` per stem role plus the bus and reuses them across calls,
only updating parameters; each call resets their state, so a render depends on its inputs alone.

A whole song need not be in memory: :meth:`Renderer.render_blocks` takes it block by block, carrying every
filter's, compressor's and the limiter's state from one block to the next (the output is the same, sample for
sample, as one call on the whole: a test holds it), and keeps the summed bus in a :class:`BusStore` (a temporary
file for a song) while it finds the drive that lands the master on its loudness target. :meth:`Renderer.render`
is that with a single block and the bus in memory.
"""

from __future__ import annotations

import math
import os
import tempfile
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pedalboard

from mixenv.loudness import SILENCE_LUFS, LoudnessMeter
from mixenv.params import ROLES, MixSettings

MIN_SAMPLE_RATE = 16_000
"""Below this the EQ's highest corner (6 kHz) would not fit under Nyquist."""

LOW_SHELF_HZ = 150.0
HIGH_SHELF_HZ = 5_000.0
SHELF_Q = 1 / math.sqrt(2)
MID_Q = 1.0
MASTER_LOW_SHELF_HZ = 100.0
MASTER_HIGH_SHELF_HZ = 6_000.0

HPF_STAGE_FACTOR = math.sqrt(math.sqrt(2.0) - 1.0)
"""Two first-order high-passes at ``hpf_hz * factor`` put the cascade's -3 dB point exactly at ``hpf_hz``."""

ROLE_DYNAMICS_MS: Mapping[str, tuple[float, float]] = {
    "vocals": (5.0, 80.0),
    "drums": (10.0, 100.0),
    "bass": (15.0, 150.0),
    "other": (20.0, 150.0),
}
"""Compressor (attack, release) per role: fixed, since the corpus prior and most engineers use such defaults."""
DEFAULT_DYNAMICS_MS = (10.0, 100.0)
MASTER_DYNAMICS_MS = (30.0, 250.0)
LIMITER_RELEASE_MS = 100.0
DEFAULT_CEILING_DB = -1.0
MAX_NORMALIZATION_GAIN_DB = 40.0
"""A LUFS target never raises a mix by more than this: beyond it we would only be amplifying noise."""
LOUDNESS_TOLERANCE_LU = 0.1
GAIN_STAGING_MASTER = ("master_comp_threshold_db", "master_limiter_db")
"""The bus controls that move with the faders in :func:`gain_staging`."""


def gain_staging(roles: Iterable[str]) -> tuple[str, ...]:
    """The controls one gain change moves together without changing the render: the faders of ``roles`` (the
    stems a song has), the bus compressor's threshold and the limiter's threshold.

    Raising all of them by the same dB raises the summed bus by that much (the bus shelves are linear) into a
    compressor whose threshold rose with it, which then drives the limiter as much less: the same master, sample
    for sample (within float rounding), while every control stays within its range. Faders at -3 dB into 6 dB of
    drive and faders at 0 dB into 3 dB are one mix, so a parameter error should not tell them apart
    (:func:`rewards.metrics.nearest_equivalent`).
    """
    return (*(f"{role}.gain_db" for role in roles), *GAIN_STAGING_MASTER)


@dataclass(frozen=True)
class MixStats:
    """What one render did, whatever became of its audio.

    Attributes:
        bus_overs: Samples (per channel) of the summed bus, after the bus compressor, above 0 dBFS: what would
            have clipped without the limiter. Tells how hard the gain staging pushes.
        clipped_samples: Output samples with ``|x| > 1``; stays 0 while the ceiling is at or below 0 dBFS.
        nonfinite_samples: NaN/inf values that processing produced and that were replaced by 0 (expected 0).
        limiter_reduction_db: Largest gain reduction the limiter applied, in dB (0 if it never acted).
        drive_db: Gain into the limiter: minus the limiter control's value, or what mastering to the target took.
    """

    bus_overs: int
    clipped_samples: int
    nonfinite_samples: int
    limiter_reduction_db: float
    drive_db: float


@dataclass(frozen=True)
class MixRender(MixStats):
    """The result of one render in memory: :class:`MixStats` and the audio.

    Attributes:
        mix: Stereo mix, ``(2, samples)`` float32, finite.
        stems: The processed, panned stems ``(2, samples)`` by role, if asked for (else empty).
    """

    mix: np.ndarray = field(default_factory=lambda: np.zeros((2, 0), np.float32))
    stems: Mapping[str, np.ndarray] = field(default_factory=dict)


class BusStore:
    """Where the summed bus waits while the mastering's drive is found: in memory, or in a temporary file of
    float32 frames (``directory`` given) so that a whole song costs disk, not memory. Read back in the blocks it
    was written in; use as a context manager (the file goes when it closes)."""

    def __init__(self, directory: str | os.PathLike[str] | None = None, *, on_disk: bool = False) -> None:
        self._blocks: list[np.ndarray] = []
        self._sizes: list[int] = []
        self._file = (
            tempfile.NamedTemporaryFile(prefix="mixenv-bus-", suffix=".f32", dir=directory)  # noqa: SIM115 (closed in close)
            if on_disk
            else None
        )

    def __enter__(self) -> BusStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def in_memory(self) -> bool:
        """Whether the blocks are kept in memory (no file)."""
        return self._file is None

    def close(self) -> None:
        """Drop what is stored (delete the file)."""
        self._blocks.clear()
        if self._file is not None:
            self._file.close()

    def append(self, bus: np.ndarray) -> None:
        """Store the next ``(2, samples)`` block."""
        if self._file is None:
            self._blocks.append(bus)
        else:
            self._file.write(np.ascontiguousarray(bus.T, dtype=np.float32).tobytes())
            self._sizes.append(bus.shape[1])

    def blocks(self) -> Iterator[np.ndarray]:
        """The stored blocks, in order."""
        if self._file is None:
            yield from self._blocks
            return
        self._file.flush()
        with Path(self._file.name).open("rb") as f:
            for size in self._sizes:
                yield np.fromfile(f, np.float32, count=2 * size).reshape(size, 2).T


class Renderer:
    """Channel strips for a fixed set of roles and a master bus at one sample rate, built once, reused.

    Args:
        sample_rate: Sample rate of every stem given to :meth:`render`, in Hz.
        roles: The roles it can render; a render may use any subset of them.
        target_lufs: If set, the master is normalised to this integrated loudness before the limiter's ceiling
            (mastering); the limiter-threshold control then has no effect. ``None`` leaves levels to the settings.
        ceiling_db: The limiter's output ceiling in dBFS.

    Not thread-safe: give each thread or process its own renderer (they are cheap to build).
    """

    def __init__(
        self,
        sample_rate: int,
        roles: Sequence[str] = ROLES,
        *,
        target_lufs: float | None = None,
        ceiling_db: float = DEFAULT_CEILING_DB,
    ) -> None:
        if int(sample_rate) != sample_rate or sample_rate < MIN_SAMPLE_RATE:
            raise ValueError(f"sample_rate must be an integer >= {MIN_SAMPLE_RATE} Hz, got {sample_rate}")
        if not -20.0 <= ceiling_db <= 0.0:
            raise ValueError(f"ceiling_db must be in [-20, 0] dBFS, got {ceiling_db}")
        if target_lufs is not None and not -60.0 <= target_lufs <= 0.0:
            raise ValueError(f"target_lufs must be in [-60, 0] LUFS or None, got {target_lufs}")
        self.sample_rate = int(sample_rate)
        self.roles = tuple(roles)
        self.target_lufs = target_lufs
        self.ceiling_db = ceiling_db
        self._strips = {role: _strip_board(role) for role in self.roles}
        self._bus = pedalboard.Pedalboard(
            [
                *_bus_shelves(0.0, 0.0),
                pedalboard.Compressor(
                    threshold_db=0.0, ratio=1.0, attack_ms=MASTER_DYNAMICS_MS[0], release_ms=MASTER_DYNAMICS_MS[1]
                ),
            ]
        )
        self._limiter = pedalboard.BrickwallLimiter(ceiling_db=ceiling_db, release_ms=LIMITER_RELEASE_MS)

    def render(
        self, stems: Mapping[str, np.ndarray], settings: MixSettings, *, return_stems: bool = False
    ) -> MixRender:
        """Mix ``stems`` (role -> ``(channels, samples)`` float32, 1 or 2 channels, equal lengths) under ``settings``.

        Equivalent to :meth:`master` applied to the sum of :meth:`process_stems`.

        Raises:
            ValueError: For an empty stem dict, a role this renderer or the settings lack, or mismatched shapes.
        """
        out: list[np.ndarray] = []
        processed: dict[str, np.ndarray] = {}
        stats = self.render_blocks(
            [stems], settings, out.append, on_block=lambda _, p: processed.update(p) if return_stems else None
        )
        return MixRender(**vars(stats), mix=_joined(out), stems=processed)

    def render_blocks(
        self,
        blocks: Iterable[Mapping[str, np.ndarray]],
        settings: MixSettings,
        write: Callable[[np.ndarray], None],
        *,
        store: BusStore | None = None,
        on_block: Callable[[Mapping[str, np.ndarray], Mapping[str, np.ndarray]], None] | None = None,
    ) -> MixStats:
        """Mix a song that comes block by block (each block as :meth:`render` takes stems; consecutive parts of one
        song), handing the finished mix to ``write`` in ``(2, samples)`` blocks (not those of the input).

        Args:
            blocks: The song's stems, block by block.
            settings: The settings, the same for the whole song.
            write: Takes each block of the mix, in order.
            store: Where the bus waits while the drive is found (default: in memory; pass an on-disk store for a
                song that should not be in memory whole).
            on_block: Called with each block's stems and their processed (strip, fader, pan) versions.
        """

        def buses() -> Iterator[np.ndarray]:
            for index, stems in enumerate(blocks):
                processed = self.process_stems(stems, settings, reset=index == 0)
                if on_block is not None:
                    on_block(stems, processed)
                bus = np.zeros_like(next(iter(processed.values())))
                for stem in processed.values():
                    bus += stem
                yield bus

        return self.master_blocks(buses(), settings, write, store=store)

    def master_blocks(
        self,
        buses: Iterable[np.ndarray],
        settings: MixSettings,
        write: Callable[[np.ndarray], None],
        *,
        store: BusStore | None = None,
    ) -> MixStats:
        """The master bus applied to a summed stereo bus that comes block by block (see :meth:`render_blocks`)."""
        store = store if store is not None else BusStore()
        overs, peak = 0, 0.0
        meter = LoudnessMeter(self.sample_rate) if self.target_lufs is not None else None
        for index, bus in enumerate(buses):
            bus = self.bus_stage(np.ascontiguousarray(bus, dtype=np.float32), settings.master, reset=index == 0)
            overs += int(np.count_nonzero(np.abs(bus) > 1.0))
            peak = max(peak, float(np.max(np.abs(bus), initial=0.0)))
            if meter is not None:
                meter.add(bus)
            store.append(bus)
        limited = None
        if meter is None or self.target_lufs is None:
            drive_db = -settings.master["master_limiter_db"]
        else:
            drive_db, limited = self._drive(meter.lufs(), self.target_lufs, store)
        out_peak, clipped, nonfinite = 0.0, 0, 0
        for out in limited if limited is not None else self._limited(store.blocks(), drive_db):
            bad = int(np.count_nonzero(~np.isfinite(out)))
            if bad:
                out = np.nan_to_num(out, nan=0.0, posinf=0.0, neginf=0.0)
            nonfinite += bad
            clipped += int(np.count_nonzero(np.abs(out) > 1.0))
            out_peak = max(out_peak, float(np.max(np.abs(out), initial=0.0)))
            write(out)
        driven_peak = peak * 10 ** (drive_db / 20)
        reduction_db = 20 * math.log10(driven_peak / out_peak) if out_peak > 0 and driven_peak > out_peak else 0.0
        return MixStats(overs, clipped, nonfinite, reduction_db, drive_db)

    def process_stems(
        self, stems: Mapping[str, np.ndarray], settings: MixSettings, *, reset: bool = True
    ) -> dict[str, np.ndarray]:
        """Each stem through its channel strip, fader and pan: role -> ``(2, samples)`` float32.

        ``reset=False`` continues from the state the previous call left (the next block of the same song).
        """
        self._check_stems(stems, settings)
        return {role: self._strip(role, audio, settings.stem(role), reset) for role, audio in stems.items()}

    def master(self, bus: np.ndarray, settings: MixSettings) -> MixRender:
        """The master bus applied to a summed stereo ``bus`` ``(2, samples)``."""
        out: list[np.ndarray] = []
        stats = self.master_blocks([bus], settings, out.append)
        return MixRender(**vars(stats), mix=_joined(out))

    def _check_stems(self, stems: Mapping[str, np.ndarray], settings: MixSettings) -> None:
        if not stems:
            raise ValueError("render needs at least one stem")
        lengths = set()
        for role, audio in stems.items():
            if role not in self._strips:
                raise ValueError(f"stem role {role!r} has no channel strip; this renderer has {', '.join(self.roles)}")
            if role not in settings.space.roles:
                raise ValueError(f"settings have no slot for stem role {role!r}; they cover {settings.space.roles}")
            if audio.ndim != 2 or audio.shape[0] not in (1, 2):
                raise ValueError(f"stem {role!r} must be shaped (1 or 2 channels, samples), got {audio.shape}")
            lengths.add(audio.shape[1])
        if len(lengths) != 1:
            raise ValueError(f"stems must have equal lengths, got {sorted(lengths)} samples; align them first")

    def strip(self, role: str, audio: np.ndarray, s: Mapping[str, float], *, reset: bool = True) -> np.ndarray:
        """One stem through its role's strip (filters, EQ, compressor), before fader and pan: same channels.

        ``s`` is the role's controls (``MixSettings.stem(role)``); ``reset=False`` continues from the last call.
        """
        hpf1, hpf2, low, mid, high, comp = self._strips[role]
        hpf1.cutoff_frequency_hz = hpf2.cutoff_frequency_hz = s["hpf_hz"] * HPF_STAGE_FACTOR
        low.gain_db = s["low_shelf_db"]
        mid.cutoff_frequency_hz = s["mid_freq_hz"]
        mid.gain_db = s["mid_db"]
        high.gain_db = s["high_shelf_db"]
        comp.threshold_db = s["comp_threshold_db"]
        comp.ratio = s["comp_ratio"]
        return _process(self._strips[role], audio, self.sample_rate, reset)

    def _strip(self, role: str, audio: np.ndarray, s: Mapping[str, float], reset: bool = True) -> np.ndarray:
        y = self.strip(role, audio, s, reset=reset)
        left, right = pan_gains(s["pan"], s["gain_db"])
        out = np.empty((2, y.shape[1]), dtype=np.float32)
        np.multiply(y[0], left, out=out[0])
        np.multiply(y[-1], right, out=out[1])
        return out

    def bus_stage(self, mix: np.ndarray, m: Mapping[str, float], *, reset: bool = True) -> np.ndarray:
        """The bus's shelves and compressor on a summed stereo bus (the limiter comes once the drive is known).

        ``m`` is the bus's controls (``MixSettings.master``); ``reset=False`` continues from the last call.
        """
        low, high, comp = self._bus
        low.gain_db = m["master_low_shelf_db"]
        high.gain_db = m["master_high_shelf_db"]
        comp.threshold_db = m["master_comp_threshold_db"]
        comp.ratio = m["master_comp_ratio"]
        return _process(self._bus, mix, self.sample_rate, reset)

    def _limited(self, buses: Iterable[np.ndarray], drive_db: float) -> Iterator[np.ndarray]:
        """The buses driven by ``drive_db`` through the limiter, as one stream: its look-ahead delays what it gives
        back (pedalboard drops the delay from the first block), so zeros are fed at the end until every sample is
        out, which makes the blocks' output the same as one call on the whole."""
        gain = np.float32(10 ** (drive_db / 20))
        self._limiter.reset()
        owed = 0
        for bus in buses:
            out = self._limiter((bus * gain).astype(np.float32), self.sample_rate, reset=False)
            owed += bus.shape[1] - out.shape[1]
            yield out
        while owed > 0:
            out = self._limiter(np.zeros((2, owed), np.float32), self.sample_rate, reset=False)
            yield out[:, :owed]
            owed -= min(owed, out.shape[1])

    def _drive(self, bus_lufs: float, target_lufs: float, store: BusStore) -> tuple[float, list[np.ndarray] | None]:
        """The drive that puts the limited bus at ``target_lufs`` (the limiter costs a little loudness), and the
        limited output at that drive if it was measured there and the store is in memory (else ``None``)."""
        if bus_lufs <= SILENCE_LUFS:
            return 0.0, None
        drive_db = min(target_lufs - bus_lufs, MAX_NORMALIZATION_GAIN_DB)
        for _ in range(3):
            meter, kept = LoudnessMeter(self.sample_rate), []
            for out in self._limited(store.blocks(), drive_db):
                meter.add(out)
                if store.in_memory:
                    kept.append(out)
            error = target_lufs - meter.lufs()
            if abs(error) <= LOUDNESS_TOLERANCE_LU or drive_db >= MAX_NORMALIZATION_GAIN_DB:
                return drive_db, kept if store.in_memory else None
            drive_db = min(drive_db + error, MAX_NORMALIZATION_GAIN_DB)
        return drive_db, None


def _process(board: pedalboard.Pedalboard, audio: np.ndarray, sample_rate: int, reset: bool) -> np.ndarray:
    """``audio`` through a board without look-ahead; ``reset=False`` continues from the last call's state."""
    audio = np.ascontiguousarray(audio, dtype=np.float32)
    out = board(audio, sample_rate, reset=reset)
    if out.shape != audio.shape:  # a plugin with latency would shift the stems against each other
        raise RuntimeError(f"a channel-strip plugin returned {out.shape[1]} of {audio.shape[1]} samples")
    return out


def _joined(blocks: list[np.ndarray]) -> np.ndarray:
    return blocks[0] if len(blocks) == 1 else np.concatenate(blocks, axis=1)


def through_bus_shelves(
    placed: Mapping[str, np.ndarray], master: Mapping[str, float], sample_rate: int
) -> dict[str, np.ndarray]:
    """Each of ``placed`` (stems after strip, fader and pan, ``(2, samples)``) through the bus's shelves under the
    bus controls ``master`` (``MixSettings.master``): the linear part of the bus, so each stem as it reaches the bus
    compressor, whose input is their sum."""
    board = pedalboard.Pedalboard(_bus_shelves(master["master_low_shelf_db"], master["master_high_shelf_db"]))
    return {role: board(np.ascontiguousarray(audio), sample_rate) for role, audio in placed.items()}


def _bus_shelves(low_db: float, high_db: float) -> list[pedalboard.Plugin]:
    """The bus's low and high shelves at these gains."""
    return [
        pedalboard.LowShelfFilter(cutoff_frequency_hz=MASTER_LOW_SHELF_HZ, gain_db=low_db, q=SHELF_Q),
        pedalboard.HighShelfFilter(cutoff_frequency_hz=MASTER_HIGH_SHELF_HZ, gain_db=high_db, q=SHELF_Q),
    ]


def pan_gains(pan: float, gain_db: float = 0.0) -> tuple[float, float]:
    """Left and right gains for a pan position in [-1, 1]: constant power, unity at centre, times the fader."""
    theta = (min(max(pan, -1.0), 1.0) + 1.0) * math.pi / 4
    fader = math.sqrt(2.0) * 10 ** (gain_db / 20)
    return fader * math.cos(theta), fader * math.sin(theta)


def high_pass_gain(hpf_hz: float, freqs: np.ndarray) -> np.ndarray:
    """The strip's high-pass (two first-order stages at ``hpf_hz`` × :data:`HPF_STAGE_FACTOR`) as an amplitude gain
    at ``freqs`` (Hz): -3 dB at ``hpf_hz``, 12 dB an octave below it, 1 far above. The analogue prototype's; the
    plugins' bilinear transform departs from it only near Nyquist, far above any corner."""
    ratio = (np.asarray(freqs, dtype=np.float64) / (hpf_hz * HPF_STAGE_FACTOR)) ** 2
    return ratio / (1.0 + ratio)


def render(
    stems: Mapping[str, np.ndarray],
    settings: MixSettings,
    sample_rate: int,
    *,
    target_lufs: float | None = None,
    ceiling_db: float = DEFAULT_CEILING_DB,
) -> MixRender:
    """Render once with a fresh :class:`Renderer` (building one costs microseconds; reuse it in loops anyway)."""
    renderer = Renderer(sample_rate, tuple(stems), target_lufs=target_lufs, ceiling_db=ceiling_db)
    return renderer.render(stems, settings)


def _strip_board(role: str) -> pedalboard.Pedalboard:
    attack_ms, release_ms = ROLE_DYNAMICS_MS.get(role, DEFAULT_DYNAMICS_MS)
    hpf_hz = 20.0 * HPF_STAGE_FACTOR
    return pedalboard.Pedalboard(
        [
            pedalboard.HighpassFilter(cutoff_frequency_hz=hpf_hz),
            pedalboard.HighpassFilter(cutoff_frequency_hz=hpf_hz),
            pedalboard.LowShelfFilter(cutoff_frequency_hz=LOW_SHELF_HZ, gain_db=0.0, q=SHELF_Q),
            pedalboard.PeakFilter(cutoff_frequency_hz=1000.0, gain_db=0.0, q=MID_Q),
            pedalboard.HighShelfFilter(cutoff_frequency_hz=HIGH_SHELF_HZ, gain_db=0.0, q=SHELF_Q),
            pedalboard.Compressor(threshold_db=0.0, ratio=1.0, attack_ms=attack_ms, release_ms=release_ms),
        ]
    )
