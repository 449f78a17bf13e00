"""A mixer that keeps up with the audio: :class:`~mixenv.render.Renderer`'s channel strips and bus, block by block,
with settings that may change while it plays and an estimator that revises them off the audio path.

:class:`StreamingMixer` takes one block of every stem at a time (``block_size`` samples, 128 to 4096) and gives one
block of the mix. With fixed settings its output is the renderer's whole-song output delayed by :attr:`latency`
samples (the limiter's look-ahead), sample for sample. A settings change is a ramp of :data:`SMOOTHING_SECONDS`
in normalised units: faders, pans and the limiter's drive move sample by sample, the filters and compressors block
by block, so a 12 dB fader jump never clicks.

:class:`LiveEstimator` keeps the last seconds of the stems and, every few seconds, asks an estimate of new settings
(the mixing model, or the loudness balance) of a worker thread. The audio path only copies blocks into a ring
buffer and picks up a finished estimate: it never waits, and an estimate due while the last one still runs is
skipped (and counted).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from concurrent.futures import Executor, Future, ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np
import pedalboard

from mixenv.data import Multitrack
from mixenv.params import ROLES, MixSettings, ParamSpace
from mixenv.render import DEFAULT_CEILING_DB, LIMITER_RELEASE_MS, Renderer, pan_gains

log = logging.getLogger(__name__)

SMOOTHING_SECONDS = 0.05
"""How long a settings change takes: a linear ramp in normalised units (a 12 dB fader jump moves 2.4 dB per 10 ms)."""
MIN_BLOCK, MAX_BLOCK = 16, 8192
COPY_CHUNK = 4096
"""Samples copied per step out of the estimator's ring: one long copy would hold the interpreter (and the audio
path waiting for it) for milliseconds."""


class StreamError(ValueError):
    """Blocks the mixer cannot take (roles, shapes, rates); the message says what it expects."""


class StreamingMixer:
    """The channel strips and master bus applied block by block, as audio arrives.

    Args:
        sample_rate: Rate of every block, in Hz.
        roles: The roles it mixes (each block holds some or all of them; an absent role is silent).
        block_size: Samples per block, in and out.
        settings: The first settings (default: neutral). The bus's limiter control sets the drive; there is no
            loudness target (that needs the whole song).
        smoothing_seconds: Length of the ramp a settings change becomes.
        ceiling_db: The limiter's ceiling in dBFS.
    """

    def __init__(
        self,
        sample_rate: int,
        roles: tuple[str, ...] = ROLES,
        block_size: int = 512,
        *,
        settings: MixSettings | None = None,
        smoothing_seconds: float = SMOOTHING_SECONDS,
        ceiling_db: float = DEFAULT_CEILING_DB,
    ) -> None:
        if not MIN_BLOCK <= block_size <= MAX_BLOCK:
            raise StreamError(f"block_size must be in [{MIN_BLOCK}, {MAX_BLOCK}] samples, got {block_size}")
        self._renderer = Renderer(sample_rate, roles, ceiling_db=ceiling_db)
        self.sample_rate, self.roles, self.block_size = self._renderer.sample_rate, tuple(roles), block_size
        self.space = settings.space if settings is not None else ParamSpace(self.roles)
        self._target = settings or self.space.neutral()
        self._start = self._target.normalized()
        self._ramp = max(1, round(smoothing_seconds * self.sample_rate))
        self._position = self._ramp  # samples into the current ramp: none running
        self._limiter = pedalboard.BrickwallLimiter(ceiling_db=ceiling_db, release_ms=LIMITER_RELEASE_MS)
        self.latency = limiter_latency(self.sample_rate, ceiling_db)
        """Samples between a block going in and its sound coming out (the limiter's look-ahead)."""
        self._pending = np.zeros((2, self.latency), np.float32)
        self._fresh = True
        self._steps = (np.arange(1, block_size + 1, dtype=np.float32) / block_size)[None]

    @property
    def settings(self) -> MixSettings:
        """The settings the mixer is at or moving to."""
        return self._target

    def set_settings(self, settings: MixSettings) -> None:
        """Move to ``settings`` over the smoothing ramp, from wherever the mixer is now."""
        if settings.space != self.space:
            raise StreamError(f"settings are for roles {settings.space.roles}, the mixer mixes {self.space.roles}")
        self._start, self._target = self._at(self._position).normalized(), settings
        self._position = 0

    def process(self, blocks: Mapping[str, np.ndarray]) -> np.ndarray:
        """Mix one block of each stem (role -> ``(1 or 2, block_size)`` float32) into ``(2, block_size)``.

        Non-finite samples are taken as silence.

        Raises:
            StreamError: For a role the mixer lacks, a block of another shape, or no blocks at all.
        """
        self._check(blocks)
        s0, s1 = self._at(self._position), self._at(self._position + self.block_size)
        self._position = min(self._position + self.block_size, self._ramp)
        reset, self._fresh = self._fresh, False
        bus = np.zeros((2, self.block_size), np.float32)
        for role, audio in blocks.items():
            clean = np.nan_to_num(np.asarray(audio, dtype=np.float32), nan=0.0, posinf=0.0, neginf=0.0)
            y = self._renderer.strip(role, clean, s1.stem(role), reset=reset)
            left, right = (self._ramped(a, b) for a, b in zip(_gains(s0, role), _gains(s1, role), strict=True))
            bus[0] += y[0] * left
            bus[1] += y[-1] * right
        bus = self._renderer.bus_stage(bus, s1.master, reset=reset)
        drive = self._ramped(*(np.float32(10 ** (-s["master_limiter_db"] / 20)) for s in (s0, s1)))
        limited = self._limiter((bus * drive).astype(np.float32), self.sample_rate, reset=False)
        self._pending = np.concatenate([self._pending, limited], axis=1)
        out, self._pending = self._pending[:, : self.block_size], self._pending[:, self.block_size :]
        return out

    def _at(self, position: int) -> MixSettings:
        """The settings ``position`` samples into the current ramp (the target itself once it is reached)."""
        if position >= self._ramp:
            return self._target
        share = np.float32(position / self._ramp)
        return self.space.from_clean(self._start + share * (self._target.normalized() - self._start))

    def _ramped(self, start: float, end: float) -> np.ndarray | np.float32:
        """Per-sample values from ``start`` (before the block) to ``end`` (its last sample); a constant stays one."""
        if start == end:
            return np.float32(end)
        return (np.float32(start) + np.float32(end - start) * self._steps)[0]

    def _check(self, blocks: Mapping[str, np.ndarray]) -> None:
        if not blocks:
            raise StreamError("process needs a block of at least one stem")
        for role, audio in blocks.items():
            if role not in self.roles:
                raise StreamError(f"the mixer has no strip for role {role!r}; it mixes {', '.join(self.roles)}")
            shape = np.shape(audio)
            if len(shape) != 2 or shape[0] not in (1, 2) or shape[1] != self.block_size:
                raise StreamError(
                    f"block of {role!r} is shaped {shape}; the mixer takes (1 or 2 channels, {self.block_size}) "
                    "float32 at its rate (pad the last block with silence)"
                )


def _gains(settings: MixSettings, role: str) -> tuple[float, float]:
    return pan_gains(settings[f"{role}.pan"], settings[f"{role}.gain_db"])


def limiter_latency(sample_rate: int, ceiling_db: float = DEFAULT_CEILING_DB) -> int:
    """The limiter's look-ahead in samples at ``sample_rate``: what a fresh one holds back of its first block."""
    probe = pedalboard.BrickwallLimiter(ceiling_db=ceiling_db, release_ms=LIMITER_RELEASE_MS)
    size = sample_rate  # a second is far longer than any look-ahead
    return size - probe(np.zeros((2, size), np.float32), sample_rate, reset=False).shape[1]


class LiveEstimator:
    """Revises the settings from the last ``window_seconds`` of the stems every ``every_seconds``, on a worker
    thread.

    Args:
        estimate: Settings for a multitrack of the window (no reference): the model's, the loudness balance's.
        sample_rate: The stems' rate.
        roles: The roles fed.
        window_seconds: How much of the past the estimate hears.
        every_seconds: How often an estimate is asked for (of audio fed, not of wall time).
        executor: Where estimates run (default: a thread of their own). A process pool of one worker
            (``ProcessPoolExecutor(1)``, with a picklable ``estimate``) keeps a model's Python steps from taking
            the interpreter from the audio path; the window then travels to it pickled, a few MB every few seconds.
    """

    def __init__(
        self,
        estimate: Callable[[Multitrack], MixSettings],
        sample_rate: int,
        roles: tuple[str, ...],
        *,
        window_seconds: float = 8.0,
        every_seconds: float = 4.0,
        executor: Executor | None = None,
    ) -> None:
        self._estimate, self.sample_rate, self.roles = estimate, sample_rate, roles
        self._window_size = round(window_seconds * sample_rate)
        self._every = round(every_seconds * sample_rate)
        self._size = self._window_size + self._every  # room for the audio path to write while a window is copied
        self._rings: dict[str, np.ndarray] = {}
        self._written = 0
        self._due = self._every
        self._worker = executor or ThreadPoolExecutor(max_workers=1, thread_name_prefix="mixenv-estimate")
        self._copier = ThreadPoolExecutor(max_workers=1, thread_name_prefix="mixenv-window")
        self._running: Future[MixSettings] | None = None
        self.asked, self.skipped, self.applied, self.failed = 0, 0, 0, 0

    def feed(self, blocks: Mapping[str, np.ndarray]) -> MixSettings | None:
        """Keep these blocks; returns new settings when an estimate has finished since the last call, else ``None``.
        Never blocks: the copy into the ring buffer is the whole cost on the audio path."""
        size = next(iter(blocks.values())).shape[1]
        at = self._written % self._size
        for role, audio in blocks.items():
            ring = self._rings.setdefault(role, np.zeros((audio.shape[0], self._size), np.float32))
            first = min(size, self._size - at)
            ring[:, at : at + first] = audio[:, :first]
            ring[:, : size - first] = audio[:, first:]
        self._written += size
        result = None
        if self._running is not None and self._running.done():
            finished, self._running = self._running, None
            if finished.exception() is None:
                result = finished.result()
                self.applied += 1
            else:  # the stream plays on with the settings it has
                log.warning("a live estimate failed (%s); keeping the current settings", finished.exception())
                self.failed += 1
        if self._written >= self._due:
            self._due += self._every
            if self._running is None:
                self._running = self._submit(self._written)
                self.asked += 1
            else:
                self.skipped += 1
        return result

    def close(self) -> None:
        """Stop the workers (a running estimate is left to finish and dropped)."""
        self._copier.shutdown(wait=False, cancel_futures=True)
        self._worker.shutdown(wait=False, cancel_futures=True)

    def _submit(self, end: int) -> Future[MixSettings]:
        """Ask for an estimate of the window ending at ``end``: the window is copied off the audio path (by a thread
        of its own), then handed to the executor; the future resolves with its settings."""
        done: Future[MixSettings] = Future()

        def copy_and_ask() -> None:
            try:
                asked = self._worker.submit(self._estimate, self._window(end))
            except BaseException as error:  # a closed executor: the estimate is dropped
                done.set_exception(error)
                return
            asked.add_done_callback(lambda f: _settle(done, f))

        self._copier.submit(copy_and_ask)
        return done

    def _window(self, end: int) -> Multitrack:
        """The window of audio fed before sample ``end``, oldest first (all of it, if less than a window). Copied on
        the worker: the audio path meanwhile writes over the ring's oldest part, beyond the window, and gets back to
        the window only after ``every_seconds``, by which time the estimate (or a skip) is long decided."""
        held = min(end, self._window_size)
        stems = {}
        for role, ring in self._rings.items():
            window = np.empty((ring.shape[0], held), np.float32)
            for start in range(0, held, COPY_CHUNK):  # small copies: the audio path gets the interpreter between
                at, count = (end - held + start) % self._size, min(COPY_CHUNK, held - start)
                first = min(count, self._size - at)
                window[:, start : start + first] = ring[:, at : at + first]
                window[:, start + first : start + count] = ring[:, : count - first]
            stems[role] = window
        return Multitrack("live", self.sample_rate, stems)


def _settle(target: Future, source: Future) -> None:
    """Resolve ``target`` as ``source`` resolved."""
    if source.cancelled():
        target.cancel()
    elif source.exception() is not None:
        target.set_exception(source.exception())
    else:
        target.set_result(source.result())


@dataclass(frozen=True)
class StreamStats:
    """How a stream kept up.

    Attributes:
        block_seconds: Wall time of each block's processing (the mixer and the estimator's share).
        block_duration: How long a block lasts, in seconds.
        xruns: Blocks that took longer than they last (a real-time player would have dropped out).
        estimates_applied: Estimates that arrived and were ramped in.
        estimates_skipped: Estimates not asked for because the last one was still running.
    """

    block_seconds: np.ndarray
    block_duration: float
    xruns: int
    estimates_applied: int
    estimates_skipped: int

    def percentile(self, q: float) -> float:
        """The ``q``-th percentile of block time as a share of the block's duration."""
        return float(np.percentile(self.block_seconds, q)) / self.block_duration


def stream(
    blocks: Iterable[Mapping[str, np.ndarray]],
    mixer: StreamingMixer,
    write: Callable[[np.ndarray], None],
    *,
    estimator: LiveEstimator | None = None,
    realtime: bool = False,
) -> StreamStats:
    """Play ``blocks`` through ``mixer`` as a live player would, handing each mixed block to ``write``; then the
    mixer's latency is flushed with silence, so everything fed comes out. ``realtime`` paces the loop at the audio's
    rate (else as fast as it goes); an estimator's new settings are ramped in at the next block."""
    duration = mixer.block_size / mixer.sample_rate
    times: list[float] = []
    begin = time.perf_counter()
    for index, block in enumerate(_with_flush(blocks, mixer)):
        if realtime:
            time.sleep(max(0.0, begin + index * duration - time.perf_counter()))
        start = time.perf_counter()
        write(mixer.process(block))
        if estimator is not None:
            settings = estimator.feed(block)
            if settings is not None:
                mixer.set_settings(settings)
        times.append(time.perf_counter() - start)
    seconds = np.asarray(times)
    return StreamStats(
        seconds,
        duration,
        int(np.count_nonzero(seconds > duration)),
        estimator.applied if estimator else 0,
        estimator.skipped if estimator else 0,
    )


def _with_flush(
    blocks: Iterable[Mapping[str, np.ndarray]], mixer: StreamingMixer
) -> Iterator[Mapping[str, np.ndarray]]:
    """The blocks, then enough silent ones to push the limiter's look-ahead out."""
    last: Mapping[str, np.ndarray] | None = None
    for block in blocks:
        last = block
        yield block
    if last is None:
        return
    silence = {role: np.zeros_like(audio) for role, audio in last.items()}
    for _ in range(-(-mixer.latency // mixer.block_size)):
        yield silence
