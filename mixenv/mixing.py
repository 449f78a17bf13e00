"""Mix and master a song end to end: decide the settings, dial them back by an intensity, render the whole song.

The entry point of ``mixenv mix`` and of :func:`mix` from Python. The methods:

* ``model``: the default mixing model (:mod:`supervised.default`, shipped in the package) or ``model=PATH``
  predicts the settings from a few excerpts of the song (:mod:`mixenv.excerpts`), reading the reference where
  it is a mix of these very stems;
* ``refine``: the model's settings start a CMA-ES search on MixEnv's reward over those excerpts (each mastered
  as the mix will be; toward a reference of these stems its spectral and loudness terms, :data:`REFERENCE_WEIGHTS`;
  without one its reference-free terms), within ``budget`` renders (predict, then refine, as ST-ITO and
  ITO-Master do; the prediction is kept unless beaten);
* ``cmaes``: the same search from the neutral mix;
* ``loudness``: each stem to its role's loudness (:mod:`mixenv.balance`), no reference needed;
* ``reference``: the bus tone matched to the reference's long-term spectrum, mastered to its loudness
  (matchering-style; the reference may be another song, of any length and rate);
* ``auto``: ``refine`` with a reference of these stems, ``reference`` with another song's, ``loudness`` without.

Whatever the method, the song is rendered once, whole, by the channel-strip renderer with its mastering set to
the target loudness, so the preset written beside the mix reproduces it (``mixenv render STEMS --settings
PRESET.json``).
"""

from __future__ import annotations

import dataclasses
import os
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from tqdm.auto import tqdm

from agents.heuristics import search
from mixenv.balance import BUS_LUFS, loudness_balance, match_tone
from mixenv.data import LoadPolicy, Multitrack, load_folder, read_audio
from mixenv.excerpts import SongExcerpts
from mixenv.loudness import SILENCE_LUFS, integrated_lufs, peak_dbfs
from mixenv.params import ROLES, MixSettings, ParamSpace
from mixenv.render import Renderer
from mixenv.report import MixReport, mix_report
from supervised.default import default_model_path
from supervised.predictors import ModelPredictor

METHODS = ("auto", "model", "refine", "cmaes", "reference", "loudness")
SEARCHES = ("refine", "cmaes")
"""The methods that search on the env's reward, ``budget`` renders of the excerpts each."""
DEFAULT_BUDGET = 100
"""Renders a search may spend (each renders and scores every excerpt once)."""
REFERENCE_WEIGHTS = {"fad": 0.0, "anomaly": 0.0}
"""Reward weights of a search toward a reference of these stems: MixEnv's spectral distance and loudness terms
only. FAD and anomaly judge a mix against the corpus's good mixes, and the reference says better what this song's
good mix is: chosen on validation songs (whole-song MRSTFT / neutral's, 8 songs each, refining the default
model's settings): corpus validation split 0.431 against 0.518 with the whole reward (the model alone 0.526),
folk validation set 0.409 against 0.515 (the model alone 0.814)."""
SIGMA = {"refine": 0.15, "cmaes": 0.3}
"""CMA-ES's first step, in normalised units: smaller from a prediction, which is close already (as in
:class:`agents.heuristics.RefinedPolicy` and :class:`~agents.heuristics.CMAESPolicy`)."""
ALIGNED_TOLERANCE = 0.01
"""A reference whose length is within this share of the stems' is taken for a mix of these stems (and trimmed or
padded to their length); any other is another song, heard for its tone and loudness only."""


class MixError(ValueError):
    """A mix that cannot be made as asked (a method without what it needs); the message says what to pass."""


@dataclass(frozen=True)
class MixResult:
    """A finished mix and how it was made.

    Attributes:
        audio: The mastered mix, float32 ``(2, samples)`` at ``sample_rate``.
        sample_rate: The stems' rate.
        settings: The settings rendered (after ``intensity``): what a preset of this mix holds.
        target_lufs: The loudness the renderer mastered to.
        method: The method that decided the settings (``auto`` resolved).
        intensity: How far from neutral toward the method's settings the mix went, in [0, 1].
        song: The multitrack that was mixed (with the reference attached where it is a mix of these stems).
        reference_lufs: The reference's loudness, if there was one.
        reference_aligned: Whether the reference was taken for a mix of these very stems.
        renders: Renders of the excerpts a search spent (0 for the other methods).
        report: Before-and-after measures of every stem and the mix, if asked for (:mod:`mixenv.report`).
        loudness_lufs: The mix's integrated loudness.
        peak_dbfs: The mix's sample peak.
        limiter_db: Gain reduction of the bus limiter at its deepest.
        seconds: Wall time of the whole call.
    """

    audio: np.ndarray
    sample_rate: int
    settings: MixSettings
    target_lufs: float
    method: str
    intensity: float
    song: Multitrack
    reference_lufs: float | None
    reference_aligned: bool
    renders: int
    loudness_lufs: float
    peak_dbfs: float
    limiter_db: float
    seconds: float
    report: MixReport | None = None


def mix(
    stems: str | os.PathLike[str] | Multitrack,
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
) -> MixResult:
    """Mix and master a folder of stems (or a loaded multitrack).

    Args:
        stems: A folder of stems (roles from the file names, see :func:`mixenv.data.load_folder`) or a multitrack.
        reference: A reference mix to mix toward: a file (any length; resampled to the stems' rate) or audio at
            the stems' rate. Default: the folder's own reference file, if it has one.
        method: One of :data:`METHODS`.
        target_lufs: The master's loudness. Default: the reference's, else -14 LUFS.
        intensity: 0 renders the neutral mix (plain sum, mastered), 1 the method's settings; between, each control
            moves that share of the way in normalised units.
        model: A supervised model's checkpoint or run folder for ``model`` and ``refine`` (default: the shipped
            default model).
        budget: Renders of the excerpts a ``refine`` or ``cmaes`` search may spend (at least 3), rounded up to
            whole CMA-ES generations (15 candidates for 41 controls; refining scores its start first).
        seed: Seeds the search (the same seed, the same mix).
        roles: File name -> role overrides for a folder.
        policy: How a folder's mismatched, silent, cut-short or multichannel files are handled.
        backbone_path: Backbone of the search's FAD and anomaly terms (default: built on first use).
        good_mix_path: Good-mix model of those terms (default: built on first use).
        progress: Show a progress bar while searching.
        report: Also measure each stem and the mix before and after (spectra, loudness over time) for a report.

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
    song = stems if isinstance(stems, Multitrack) else load_folder(stems, roles=roles, policy=policy)
    ref = _reference(reference, song)
    reference_lufs = integrated_lufs(ref, song.sample_rate) if ref is not None else None
    if reference_lufs is not None and reference_lufs <= SILENCE_LUFS:
        raise MixError("the reference mix is silent; pass a reference that has audio in it")
    aligned = _aligned(ref, song.num_samples)
    song = dataclasses.replace(song, reference=aligned, settings=None)  # the model and search see aligned ones only
    if method == "auto":
        method = "refine" if aligned is not None else "reference" if ref is not None else "loudness"
    if method == "reference" and ref is None:
        raise MixError("method 'reference' needs a reference mix: pass --reference REF.wav (or reference=...)")
    target = target_lufs if target_lufs is not None else reference_lufs if reference_lufs is not None else BUS_LUFS
    space = ParamSpace(ROLES)
    renders = 0
    if method in ("loudness", "reference"):
        chosen = _decide(method, song, ref, space)
    else:
        weights = REFERENCE_WEIGHTS if aligned is not None else None
        excerpts = SongExcerpts(
            song, space, target, backbone_path=backbone_path, good_mix_path=good_mix_path, weights=weights
        )
        vector = space.neutral_vector() if method == "cmaes" else _predict(model, excerpts, space)
        if method in SEARCHES:
            vector = _search(excerpts, vector, method, budget, seed, progress)
            renders = excerpts.calls
        chosen = space.to_physical(vector)
    settings = space.to_physical(space.neutral_vector() + intensity * (chosen.normalized() - space.neutral_vector()))
    result = Renderer(song.sample_rate, ROLES, target_lufs=target).render(song.stems, settings, return_stems=report)
    measures = None
    if report:
        plain = Renderer(song.sample_rate, ROLES).render(song.stems, space.neutral()).mix
        title = f"{song.name}: {method} at intensity {intensity:.2f}, mastered to {target:.1f} LUFS"
        measures = mix_report(song.stems, result.stems, plain, result.mix, song.sample_rate, settings, ref, title)
    return MixResult(
        audio=result.mix,
        sample_rate=song.sample_rate,
        settings=settings,
        target_lufs=target,
        method=method,
        intensity=intensity,
        song=song,
        reference_lufs=reference_lufs,
        reference_aligned=aligned is not None,
        renders=renders,
        loudness_lufs=float(integrated_lufs(result.mix, song.sample_rate)),
        peak_dbfs=float(peak_dbfs(result.mix)),
        limiter_db=float(result.limiter_reduction_db),
        seconds=time.perf_counter() - start,
        report=measures,
    )


def _predict(model: str | os.PathLike[str] | None, excerpts: SongExcerpts, space: ParamSpace) -> np.ndarray:
    """The model's settings for the song: the mean of its predictions for each excerpt, in normalised units."""
    predictor = ModelPredictor(default_model_path() if model is None else model)
    if predictor.space != space:
        raise MixError(f"the model mixes roles {predictor.space.roles}, but mixenv mix needs a model of {space.roles}")
    return predictor.predict(excerpts.excerpts).mean(axis=0)


def _search(
    excerpts: SongExcerpts, start: np.ndarray, method: str, budget: int, seed: int, progress: bool
) -> np.ndarray:
    """CMA-ES on the env's reward over the excerpts from ``start`` (kept unless beaten, when refining)."""
    with tqdm(total=budget, desc=f"{method}: renders", unit="render", disable=not progress, leave=False) as bar:

        def loss(vector: np.ndarray) -> float:
            value = excerpts.loss(vector)
            bar.update(1)
            return value

        return search(loss, start, budget, SIGMA[method], seed, keep_start=method == "refine")


def _reference(reference: str | os.PathLike[str] | np.ndarray | None, song: Multitrack) -> np.ndarray | None:
    if reference is None:
        return song.reference
    if isinstance(reference, np.ndarray):
        audio = np.asarray(reference, dtype=np.float32)
        if audio.ndim != 2 or audio.shape[0] not in (1, 2) or not np.isfinite(audio).all():
            raise MixError(f"a reference array must be finite and shaped (1 or 2, samples), got {audio.shape}")
        return audio
    return read_audio(Path(reference), sample_rate=song.sample_rate, on_multichannel="downmix")


def _aligned(reference: np.ndarray | None, samples: int) -> np.ndarray | None:
    """The reference trimmed or padded to ``samples`` if it is a mix of these stems (by its length), else ``None``."""
    if reference is None or abs(reference.shape[1] - samples) > ALIGNED_TOLERANCE * samples:
        return None
    fitted = np.zeros((reference.shape[0], samples), np.float32)
    fitted[:, : min(samples, reference.shape[1])] = reference[:, :samples]
    return fitted


def _decide(method: str, song: Multitrack, reference: np.ndarray | None, space: ParamSpace) -> MixSettings:
    """The method's settings for the whole song (levels before the mastering's normalisation)."""
    if method == "loudness":
        return loudness_balance(space.neutral(), song.stems, song.sample_rate)
    assert reference is not None
    neutral = space.neutral()
    plain = Renderer(song.sample_rate, ROLES).render(song.stems, neutral).mix
    return match_tone(neutral, plain, reference, song.sample_rate)
