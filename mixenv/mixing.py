"""Mix and master a song end to end: decide the settings, dial them back by an intensity, render the whole song.

The entry point of ``mixenv mix`` and of :func:`mix` from Python. The methods:

* ``model``: the default mixing model (:mod:`supervised.default`, shipped in the package) or ``model=PATH``
  predicts the settings from a few excerpts of the song (:mod:`mixenv.excerpts`), reading the reference where
  it is a mix of these very stems, and then matches each stem's EQ and fader to how it sounds in that reference
  (:func:`mixenv.balance.match_stems`: how loud each stem is and its tone are something the reference shows, like
  its loudness); without one, it sets each fader by the loudness-balance convention on the stem as its strip plays
  it (:func:`mixenv.balance.balance_placed`);
* ``refine``: the model's settings (so matched, from the prediction alone: the best of three matched starts that the
  benchmark's refinement takes, :data:`agents.heuristics.START_EQ_SCALES`, chosen on the excerpts did not carry to the
  whole song), with a reference of these stems each stem's mid band first tried in the other regions of its range
  (:func:`agents.heuristics.try_mid_bands`: each reading re-matched and scored on the excerpts, kept where it scores
  better), start a CMA-ES search on MixEnv's reward over those excerpts (each mastered as the mix will be; toward a
  reference of these stems its spectral and loudness terms, :data:`mixenv.env.REFERENCE_WEIGHTS`; without one its
  reference-free terms), within ``budget`` renders (predict, then refine, as ST-ITO and ITO-Master do; the prediction
  is kept unless beaten), then each stem matched to the reference again from what the search found, kept if it scores
  better; with a reference the search moves only what the match cannot read from it, the high-passes, compressors and
  limiter (:data:`agents.heuristics.UNMATCHED_CONTROLS`), and the re-match reads each stem's compressor again, in two
  rounds of half the budget each (:data:`REFINE_ROUNDS`);
* ``cmaes``: the same search from the neutral mix;
* ``loudness``: each stem to its role's loudness (:mod:`mixenv.balance`), no reference needed;
* ``reference``: the bus tone matched to the reference's long-term spectrum, mastered to its loudness
  (matchering-style; the reference may be another song, of any length and rate);
* ``auto``: ``refine`` with a reference of these stems, ``reference`` with another song's, ``model`` without.

Whatever the method, the song is rendered once, whole, by the channel-strip renderer with its mastering set to
the target loudness, so the preset written beside the mix reproduces it (``mixenv render STEMS --settings
PRESET.json``).

A song given as a folder is never in memory whole: it is read, measured and rendered in blocks of
:data:`BLOCK_SECONDS` (:class:`mixenv.data.SongFiles`, :meth:`mixenv.render.Renderer.render_blocks`), the bus waits in
a temporary file while the mastering's drive is found, and the mix goes to ``output`` block by block (atomically:
an interrupted run leaves nothing). The model and the searches read three short excerpts. Memory is then bounded
by the blocks, the model and the excerpts, whatever the song's length.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import math
import os
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from tqdm.auto import tqdm

from agents.heuristics import REFINE_SIGMA, fewest_renders, refine, searched_controls, try_mid_bands
from mixenv.balance import BUS_LUFS, as_played, balance_levels, balance_placed, match_spectra
from mixenv.data import LoadPolicy, Multitrack, SongFiles, load_folder, open_folder
from mixenv.data.audio import AudioReader, AudioWriter
from mixenv.env import REFERENCE_WEIGHTS
from mixenv.excerpts import EXCERPT_SECONDS, SongExcerpts
from mixenv.loudness import SILENCE_LUFS, LoudnessMeter
from mixenv.params import ROLES, MixSettings, ParamSpace
from mixenv.render import BusStore, Renderer
from mixenv.report import MIX, MixReport, TrackMeter, mix_report
from mixenv.search import remembered, search
from supervised.default import default_model_path
from supervised.inputs import InputError
from supervised.predictors import Predictor
from supervised.runtimes import RUNTIMES, load_predictor

METHODS = ("auto", "model", "refine", "cmaes", "reference", "loudness")
SEARCHES = ("refine", "cmaes")
"""The methods that search on the env's reward, ``budget`` renders of the excerpts each."""
DEFAULT_BUDGET = 100
"""Renders a search may spend (each renders and scores every excerpt once)."""

SIGMA = {"refine": REFINE_SIGMA, "cmaes": 0.3}
"""CMA-ES's first step, in normalised units: much smaller from a prediction, which is close already (as in
:class:`agents.heuristics.RefinedPolicy` and :class:`~agents.heuristics.CMAESPolicy`)."""
REFINE_ROUNDS = 2
"""Rounds of a refinement with a reference (:func:`agents.heuristics.refine`): 50 renders of search, then each stem
matched to the reference again with its compressor read again (:mod:`mixenv.dynamics`) for the bus and high-passes
the search left, twice. Chosen on validation songs (the corpus's validation split, chorales and folk of seed 12, 8
whole songs each, ``mixenv mix --method refine`` at 100 renders, 2026-12-06; MRSTFT / neutral's; the model alone
0.144 / 0.125 / 0.183): one round, the re-match not reading the compressors (as before) 0.104 on the chorales and
0.154 on folk; one round reading them 0.102 on the chorales; two rounds reading them 0.101 / 0.099 / 0.135. (Also
tried on the chorales, one round: the stems' compressors left out of the search, as read, 0.105; and also read
again, 0.104.) Two readings more make a refinement about 1.7x as long."""
ALIGNED_TOLERANCE = 0.01
"""A reference whose length is within this share of the stems' is taken for a mix of these stems (and trimmed or
padded to their length); any other is another song, heard for its tone and loudness only."""
BLOCK_SECONDS = 10.0
"""A song is read, measured and rendered in blocks this long: with the model and the excerpts, what bounds the
memory of a mix whatever the song's length."""


class MixError(ValueError):
    """A mix that cannot be made as asked (a method without what it needs); the message says what to pass."""


@dataclass(frozen=True)
class MixResult:
    """A finished mix and how it was made.

    Attributes:
        audio: The mastered mix, float32 ``(2, samples)`` at ``sample_rate``; ``None`` when it went to ``output``.
        output: The file the mix was written to, if any.
        sample_rate: The stems' rate.
        settings: The settings rendered (after ``intensity``): what a preset of this mix holds.
        target_lufs: The loudness the renderer mastered to.
        method: The method that decided the settings (``auto`` resolved).
        intensity: How far from neutral toward the method's settings the mix went, in [0, 1].
        song: The song that was mixed (with the reference attached where it is a mix of these stems): a
            multitrack in memory, or a folder's files read in blocks.
        reference_lufs: The reference's loudness, if there was one.
        reference_aligned: Whether the reference was taken for a mix of these very stems.
        renders: Renders of the excerpts a search spent (0 for the other methods).
        report: Before-and-after measures of every stem and the mix, if asked for (:mod:`mixenv.report`).
        loudness_lufs: The mix's integrated loudness.
        peak_dbfs: The mix's sample peak.
        limiter_db: Gain reduction of the bus limiter at its deepest.
        seconds: Wall time of the whole call.
    """

    audio: np.ndarray | None
    output: Path | None
    sample_rate: int
    settings: MixSettings
    target_lufs: float
    method: str
    intensity: float
    song: Multitrack | SongFiles
    reference_lufs: float | None
    reference_aligned: bool
    renders: int
    loudness_lufs: float
    peak_dbfs: float
    limiter_db: float
    seconds: float
    report: MixReport | None = None


def mix(
    stems: str | os.PathLike[str] | Multitrack | SongFiles,
    *,
    reference: str | os.PathLike[str] | np.ndarray | None = None,
    method: str = "auto",
    target_lufs: float | None = None,
    intensity: float = 1.0,
    model: str | os.PathLike[str] | None = None,
    budget: int = DEFAULT_BUDGET,
    seed: int = 0,
    roles: Mapping[str, str] | None = None,
    policy: LoadPolicy | None = None,
    backbone_path: str | os.PathLike[str] | None = None,
    good_mix_path: str | os.PathLike[str] | None = None,
    progress: bool = False,
    report: bool = False,
    output: str | os.PathLike[str] | None = None,
    bit_depth: int = 24,
    runtime: str = "torch",
) -> MixResult:
    """Mix and master a folder of stems (or a loaded multitrack).

    Args:
        stems: A folder of stems (roles from the file names, see :func:`mixenv.data.load_folder`; read in blocks,
            never whole, unless ``reference`` is an array), a multitrack, or a folder already opened with
            :func:`mixenv.data.open_folder`.
        reference: A reference mix to mix toward: a file (any length; resampled to the stems' rate) or audio at
            the stems' rate. Default: the song's own reference, if it has one.
        method: One of :data:`METHODS`.
        target_lufs: The master's loudness. Default: the reference's, else -14 LUFS.
        intensity: 0 renders the neutral mix (plain sum, mastered; the method is not run, since nothing it chose
            would be heard), 1 the method's settings; between, each control moves that share of the way in
            normalised units.
        model: A supervised model's checkpoint or run folder for ``model`` and ``refine`` (default: the shipped
            default model).
        budget: Renders of the excerpts a ``refine`` or ``cmaes`` search may spend (at least 3), rounded up to
            whole CMA-ES generations (15 candidates for 41 controls; refining scores its start first and, with a
            reference, searches 15 controls in generations of 12).
        seed: Seeds the search (the same seed, the same mix).
        roles: File name -> role overrides for a folder.
        policy: How a folder's mismatched, silent, cut-short or multichannel files are handled.
        backbone_path: Backbone of the search's FAD and anomaly terms (default: the shipped one).
        good_mix_path: Good-mix model of those terms (default: built on first use).
        progress: Show progress bars while searching and rendering.
        report: Also measure each stem and the mix before and after (spectra, loudness over time) for a report.
        output: Write the mix to this audio file (block by block, atomically) instead of returning it in memory.
        bit_depth: The output file's bit depth: 16, 24 or 32 (float).
        runtime: What runs the model: ``"torch"``, or ``"onnx"`` (onnxruntime) for a ``model`` exported with
            ``mixenv export`` (:mod:`supervised.export`).

    Raises:
        MixError: For an unknown method, an intensity outside [0, 1], a budget under 3, a silent reference, or the
            ``reference`` method without a reference.
        mixenv.data.StemsError, mixenv.data.AudioFileError: For stems or a reference that cannot be loaded.
        FileNotFoundError: For a ``model`` path that holds no model.
    """
    start = time.perf_counter()
    if method not in METHODS:
        raise MixError(f"method must be one of {', '.join(METHODS)}, got {method!r}")
    if not 0.0 <= intensity <= 1.0:  # NaN fails too
        raise MixError(f"intensity must be in [0, 1], got {intensity}")
    if budget < 3:
        raise MixError(f"budget must be at least 3 renders, got {budget}")
    if runtime not in RUNTIMES:
        raise MixError(f"runtime must be one of {', '.join(RUNTIMES)}, got {runtime!r}")
    song = _open(stems, reference, roles, policy)
    ref = _Reference.of(reference, song)
    block = round(BLOCK_SECONDS * song.sample_rate)
    reference_lufs, reference_meter = None, None
    if ref is not None:
        loudness, reference_meter = LoudnessMeter(song.sample_rate), TrackMeter(song.sample_rate)
        for part in ref.blocks(block):
            loudness.add(part)
            reference_meter.add(part)
        reference_lufs = loudness.lufs()
        if reference_lufs <= SILENCE_LUFS:
            raise MixError("the reference mix is silent; pass a reference that has audio in it")
    aligned = ref is not None and abs(ref.num_samples - song.num_samples) <= ALIGNED_TOLERANCE * song.num_samples
    song = _with_reference(song, ref if aligned else None)  # the model and search see aligned ones only
    if method == "auto":
        method = "refine" if aligned else "reference" if ref is not None else "model"
    if method == "reference" and ref is None:
        raise MixError("method 'reference' needs a reference mix: pass --reference REF.wav (or reference=...)")
    target = target_lufs if target_lufs is not None else reference_lufs if reference_lufs is not None else BUS_LUFS
    space = ParamSpace(ROLES)
    plain = _plain_mix(song, space, block) if report or (method == "reference" and intensity > 0.0) else None
    renders = 0
    if intensity == 0.0:
        chosen = space.neutral()
    elif method == "loudness":
        chosen = balance_levels(space.neutral(), _levels(song, block))
    elif method == "reference":
        assert plain is not None and reference_meter is not None
        centres, _, plain_measures = plain.read()
        difference = reference_meter.read()[2].spectrum_db - plain_measures.spectrum_db
        chosen = match_spectra(space.neutral(), centres, difference, song.sample_rate)
    else:
        weights = REFERENCE_WEIGHTS if aligned else None
        excerpts = SongExcerpts(
            song, space, target, backbone_path=backbone_path, good_mix_path=good_mix_path, weights=weights
        )
        vector = space.neutral_vector() if method == "cmaes" else _predict(model, excerpts, space, runtime)
        if method != "cmaes":
            vector = excerpts.match_stems(vector)
        if method in SEARCHES:
            vector = _search(excerpts, vector, method, budget, seed, progress)
            renders = excerpts.calls
        chosen = space.to_physical(vector)
    settings = space.to_physical(space.neutral_vector() + intensity * (chosen.normalized() - space.neutral_vector()))
    before = {role: TrackMeter(song.sample_rate) for role in song.roles} if report else {}
    after = {role: TrackMeter(song.sample_rate) for role in song.roles} if report else {}

    def on_block(stems: Mapping[str, np.ndarray], processed: Mapping[str, np.ndarray]) -> None:
        for role, meter in before.items():
            meter.add(stems[role])
            after[role].add(processed[role])

    sink = _Sink(output, song.sample_rate, bit_depth, TrackMeter(song.sample_rate) if report else None)
    parts = tqdm(
        song.blocks(block),
        total=math.ceil(song.num_samples / block),
        desc="rendering",
        unit="block",
        disable=not progress,
        leave=False,
    )
    with sink, BusStore(on_disk=isinstance(song, SongFiles)) as store:
        stats = Renderer(song.sample_rate, ROLES, target_lufs=target).render_blocks(
            (part.stems for part in parts), settings, sink.write, store=store, on_block=on_block if report else None
        )
    measures = None
    if report:
        assert plain is not None and sink.meter is not None
        title = f"{song.name}: {method} at intensity {intensity:.2f}, mastered to {target:.1f} LUFS"
        before[MIX], after[MIX] = plain, sink.meter
        measures = mix_report(before, after, settings, reference_meter, title)
    return MixResult(
        audio=sink.audio(),
        output=None if output is None else Path(output),
        sample_rate=song.sample_rate,
        settings=settings,
        target_lufs=target,
        method=method,
        intensity=intensity,
        song=song,
        reference_lufs=reference_lufs,
        reference_aligned=aligned,
        renders=renders,
        loudness_lufs=sink.loudness.lufs(),
        peak_dbfs=20.0 * math.log10(max(sink.peak, 1e-10)),
        limiter_db=float(stats.limiter_reduction_db),
        seconds=time.perf_counter() - start,
        report=measures,
    )


class _Sink:
    """Where the finished mix goes, block by block (a file, written atomically, or memory), measured on the way."""

    def __init__(
        self, output: str | os.PathLike[str] | None, sample_rate: int, bit_depth: int, meter: TrackMeter | None
    ) -> None:
        self._stack = contextlib.ExitStack()
        self._writer = None if output is None else AudioWriter(output, sample_rate, 2, bit_depth=bit_depth)
        self._blocks: list[np.ndarray] = []
        self.loudness, self.meter, self.peak = LoudnessMeter(sample_rate), meter, 0.0

    def __enter__(self) -> _Sink:
        if self._writer is not None:
            self._stack.enter_context(self._writer)
        return self

    def __exit__(self, *exc: object) -> None:
        self._stack.__exit__(*exc)

    def write(self, audio: np.ndarray) -> None:
        self.loudness.add(audio)
        if self.meter is not None:
            self.meter.add(audio)
        self.peak = max(self.peak, float(np.max(np.abs(audio), initial=0.0)))
        if self._writer is not None:
            self._writer.write(audio)
        else:
            self._blocks.append(audio)

    def audio(self) -> np.ndarray | None:
        """The mix, if it was kept in memory."""
        if self._writer is not None:
            return None
        return self._blocks[0] if len(self._blocks) == 1 else np.concatenate(self._blocks, axis=1)


@dataclass(frozen=True)
class _Reference:
    """A reference mix at the song's rate, read block by block: audio in memory, or a file."""

    num_samples: int
    sample_rate: int
    audio: np.ndarray | None = None
    path: Path | None = None

    @classmethod
    def of(
        cls, reference: str | os.PathLike[str] | np.ndarray | None, song: Multitrack | SongFiles
    ) -> _Reference | None:
        """The reference given, else the song's own; ``None`` without either."""
        if reference is None:
            if isinstance(song, Multitrack):
                return None if song.reference is None else cls(song.num_samples, song.sample_rate, song.reference)
            reference = song.reference_file
            if reference is None:
                return None
        if isinstance(reference, np.ndarray):
            audio = np.asarray(reference, dtype=np.float32)
            if audio.ndim != 2 or audio.shape[0] not in (1, 2) or not np.isfinite(audio).all():
                raise MixError(f"a reference array must be finite and shaped (1 or 2, samples), got {audio.shape}")
            return cls(audio.shape[1], song.sample_rate, audio)
        with AudioReader(reference, sample_rate=song.sample_rate, on_multichannel="downmix") as f:
            return cls(f.num_samples, song.sample_rate, path=Path(reference))

    def blocks(self, size: int) -> Iterator[np.ndarray]:
        """The reference in consecutive parts of ``size`` samples."""
        if self.audio is not None:
            yield from (self.audio[:, i : i + size] for i in range(0, self.num_samples, size))
            return
        assert self.path is not None
        with AudioReader(self.path, sample_rate=self.sample_rate, on_multichannel="downmix") as f:
            for i in range(0, self.num_samples, size):
                yield f.read(min(size, self.num_samples - i))

    def fitted(self, samples: int) -> np.ndarray:
        """The whole reference in memory, trimmed or zero-padded to ``samples``."""
        audio = np.concatenate(list(self.blocks(samples)), axis=1) if self.audio is None else self.audio
        fitted = np.zeros((audio.shape[0], samples), np.float32)
        fitted[:, : min(samples, audio.shape[1])] = audio[:, :samples]
        return fitted


def _open(
    stems: str | os.PathLike[str] | Multitrack | SongFiles,
    reference: str | os.PathLike[str] | np.ndarray | None,
    roles: Mapping[str, str] | None,
    policy: LoadPolicy | None,
) -> Multitrack | SongFiles:
    """The song: as given, or a folder's files (loaded whole only to go with a reference given as audio)."""
    if isinstance(stems, Multitrack | SongFiles):
        return stems
    if isinstance(reference, np.ndarray):
        return load_folder(stems, roles=roles, policy=policy)
    return open_folder(stems, roles=roles, policy=policy)


def _with_reference(song: Multitrack | SongFiles, reference: _Reference | None) -> Multitrack | SongFiles:
    """The song with ``reference`` as its reference mix (fitted to its length), or with none."""
    if isinstance(song, Multitrack):
        fitted = None if reference is None else reference.fitted(song.num_samples)
        return dataclasses.replace(song, reference=fitted, settings=None)
    if reference is not None and reference.path is None:  # audio with a song on disk: cannot happen (see _open)
        raise MixError("a reference given as audio needs the stems in memory")
    return dataclasses.replace(song, reference_file=None if reference is None else reference.path, settings=None)


def _levels(song: Multitrack | SongFiles, block: int) -> dict[str, float]:
    """Each stem's loudness as it plays in the neutral mix."""
    meters = {role: LoudnessMeter(song.sample_rate) for role in song.roles}
    for part in song.blocks(block):
        for role, audio in part.stems.items():
            meters[role].add(as_played(audio))
    return {role: meter.lufs() for role, meter in meters.items()}


def _plain_mix(song: Multitrack | SongFiles, space: ParamSpace, block: int) -> TrackMeter:
    """The neutral mix (plain sum, unmastered), measured."""
    meter = TrackMeter(song.sample_rate)
    with BusStore(on_disk=isinstance(song, SongFiles)) as store:
        Renderer(song.sample_rate, ROLES).render_blocks(
            (part.stems for part in song.blocks(block)), space.neutral(), meter.add, store=store
        )
    return meter


def _predict(
    model: str | os.PathLike[str] | None, excerpts: SongExcerpts, space: ParamSpace, runtime: str
) -> np.ndarray:
    """The model's settings for the song: the mean of its predictions for each excerpt, in normalised units."""
    return _predictor(model, space, runtime).predict(excerpts.excerpts).mean(axis=0)


def _predictor(model: str | os.PathLike[str] | None, space: ParamSpace, runtime: str = "torch") -> Predictor:
    """The model (default: the shipped one) on ``runtime``, checked to mix ``space``'s roles."""
    if model is None and runtime != "torch":
        raise MixError(f"the {runtime} runtime needs --model MODEL.onnx (made by `mixenv export`)")
    try:
        predictor = load_predictor(default_model_path() if model is None else model, runtime, roles=space.roles)
    except InputError as err:
        raise MixError(str(err)) from err
    if predictor.space != space:
        raise MixError(f"the model mixes roles {predictor.space.roles}, but mixenv mix needs a model of {space.roles}")
    return predictor


LIVE_METHODS = ("model", "loudness")
"""What a live stream's settings can be re-estimated with (:func:`live_estimate`)."""


@functools.lru_cache(maxsize=2)
def _live_predictor(model: str | None) -> Predictor:
    """One loaded model per worker, however many estimates (each arrives pickled, without it)."""
    return _predictor(model, ParamSpace(ROLES))


class LiveEstimate:
    """Settings for the last seconds of a live stream (no reference), for :class:`mixenv.stream.LiveEstimator`: the
    default model's (or ``model``'s) prediction from the window's last :data:`~mixenv.excerpts.EXCERPT_SECONDS`, its
    faders set by the loudness-balance convention on that excerpt as the strips play it (as ``mix`` does without a
    reference), or the loudness balance of the whole window. Levels stay with the settings: a stream has no whole
    song to master to a loudness. Picklable, and the model is loaded on first use, so it can run in a worker process.

    Raises:
        MixError: For a method not in :data:`LIVE_METHODS` (on creation) or a model of other roles (on first use).
    """

    def __init__(self, method: str = "model", model: str | os.PathLike[str] | None = None) -> None:
        if method not in LIVE_METHODS:
            raise MixError(f"a live estimate is one of {', '.join(LIVE_METHODS)}, got {method!r}")
        self.method, self.model = method, model
        self._predictor: Predictor | None = None

    def load(self) -> None:
        """Load what an estimate needs (the model, for ``model``). Called on the worker before a stream starts, it
        moves the worker's start-up (about 4 s on 2 cores, 2026-12-05) out of the first estimate, which was
        otherwise late by that much, and skipped the next."""
        if self.method != "loudness":
            self._loaded()

    def _loaded(self) -> Predictor:
        """The model, loaded on first use (once per worker process: :func:`_live_predictor`)."""
        if self._predictor is None:
            self._predictor = _live_predictor(None if self.model is None else str(self.model))
        return self._predictor

    def __call__(self, window: Multitrack) -> MixSettings:
        space = ParamSpace(ROLES)
        if self.method == "loudness":
            return balance_levels(space.neutral(), _levels(window, window.num_samples))
        length = min(window.num_samples, round(EXCERPT_SECONDS * window.sample_rate))
        excerpt = window.segment(window.num_samples - length, length)
        settings = space.to_physical(self._loaded().predict([excerpt])[0])
        placed = Renderer(window.sample_rate, ROLES).process_stems(excerpt.stems, settings)
        return balance_placed(settings, placed, window.sample_rate)

    def __getstate__(self) -> dict[str, object]:
        return {"method": self.method, "model": self.model, "_predictor": None}


def _search(
    excerpts: SongExcerpts, start: np.ndarray, method: str, budget: int, seed: int, progress: bool
) -> np.ndarray:
    """CMA-ES on the env's reward over the excerpts from ``start``; when refining, the start is kept unless beaten,
    only the controls the stem match cannot read are searched where there is a reference, each stem's mid band is
    tried in the other regions of its range first (:func:`agents.heuristics.try_mid_bands`, out of the budget), and
    each stem is matched to it again afterwards (:func:`agents.heuristics.refine`)."""
    with tqdm(total=budget, desc=f"{method}: renders", unit="render", disable=not progress, leave=False) as bar:

        def loss(vector: np.ndarray) -> float:
            value = excerpts.loss(vector)
            bar.update(1)
            return value

        if method == "refine":
            matched = not excerpts.reference_free
            searched = searched_controls(excerpts.space, matched=matched)
            rounds = REFINE_ROUNDS if matched else 1
            loss = remembered(loss)
            if matched:
                readings = excerpts.mid_band_readings(start)
                spare = budget - fewest_renders(1)
                start, spent = try_mid_bands(excerpts.space, start, readings, loss, excerpts.match_stems, spare)
                budget -= spent
            return refine(loss, excerpts.match_stems, start, budget, SIGMA[method], seed, searched, rounds)
        return search(loss, start, budget, SIGMA[method], seed)
