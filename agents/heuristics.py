"""Classic mixing baselines, each a :class:`~agents.policies.MixPolicy` like a trained agent.

* ``neutral``: unity settings; the mix is the plain sum of the stems.
* ``loudness``: each stem to a role loudness (vocals on top), then the bus to -14 LUFS (the streaming norm).
* ``reference``: matchering-style mastering of the plain sum toward the reference: its long-term spectrum
  (fitted with the bus shelves) and its loudness.
* ``cmaes``: a per-song gradient-free optimiser (CMA-ES, pycma) of the env's own reward, with a fixed budget of
  renders. It sees the reward, hence the reference: an upper-bound-style baseline, not a fair competitor.

Each decides its settings once, at the start of the episode, and repeats them. :class:`RefinedPolicy` runs the
same search from another policy's settings (predict, then refine, as ST-ITO and ITO-Master do).
"""

from __future__ import annotations

import abc
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING

import numpy as np

from mixenv.balance import BUS_LUFS, loudness_balance, match_tone, mid_band_alternatives
from mixenv.balance import match_stems as match_stems_to
from mixenv.env import override_weights
from mixenv.loudness import integrated_lufs
from mixenv.mastering import drive_to_loudness
from mixenv.params import MixSettings, ParamSpace
from mixenv.search import remembered, search, search_scored

if TYPE_CHECKING:
    from agents.episodes import MixPolicy
    from mixenv.env import MixEnv


class _FixedPolicy(abc.ABC):
    """Decides its settings at reset and repeats them; subclasses implement :meth:`decide`."""

    name = "fixed"

    def __init__(self) -> None:
        self.action: np.ndarray | None = None

    def reset(self, env: MixEnv) -> None:
        self.action = self.decide(env).normalized()

    def act(self, observation: dict[str, np.ndarray], env: MixEnv) -> np.ndarray:
        if self.action is None:
            raise RuntimeError(f"{self.name}: reset(env) must come before act()")
        return self.action

    @abc.abstractmethod
    def decide(self, env: MixEnv) -> MixSettings:
        """The settings for the current episode's clip."""


class NeutralPolicy(_FixedPolicy):
    """Unity gain, centre, flat, no compression: the raw sum."""

    name = "neutral"

    def decide(self, env: MixEnv) -> MixSettings:
        return env.space.neutral()


class LoudnessBalancePolicy(_FixedPolicy):
    """Stems to :data:`mixenv.balance.ROLE_LUFS`, then the bus to ``bus_lufs`` by the limiter (or by all faders, if
    too loud)."""

    name = "loudness"

    def __init__(self, bus_lufs: float = BUS_LUFS) -> None:
        super().__init__()
        self.bus_lufs = bus_lufs

    def decide(self, env: MixEnv) -> MixSettings:
        clip = env.clip
        return _to_loudness(env, loudness_balance(env.space.neutral(), clip.stems, clip.sample_rate), self.bus_lufs)


class ReferenceMatchPolicy(_FixedPolicy):
    """Match the plain sum's long-term spectrum (bus shelves) and loudness (faders, limiter) to the reference."""

    name = "reference"

    def decide(self, env: MixEnv) -> MixSettings:
        clip = env.clip
        if clip.reference is None:
            raise ValueError(f"song {clip.name!r} has no reference; the reference-matching heuristic needs one")
        rate = clip.sample_rate
        neutral = env.space.neutral()
        settings = match_tone(neutral, env.render_settings(neutral).mix, clip.reference, rate)
        return _to_loudness(env, settings, integrated_lufs(clip.reference, rate))


class StemMatchPolicy(_FixedPolicy):
    """Each stem's tone, fader and pan matched to how it sounds in the reference, from the neutral mix, then the
    loudness (:func:`matched_on_env`): what the reference shows of every stem (:mod:`mixenv.inversion`), with
    nothing learned; the supervised model's matched form starts the same matching from its prediction instead."""

    name = "stems"

    def decide(self, env: MixEnv) -> MixSettings:
        if env.clip.reference is None:
            raise ValueError(f"song {env.clip.name!r} has no reference; the stem-matching heuristic needs one")
        return matched_on_env(env, env.space.neutral(), match_stems=True)


class CMAESPolicy(_FixedPolicy):
    """CMA-ES over the normalised settings, maximising the env's reward on the clip, ``budget`` renders per song.

    Args:
        budget: Renders (reward evaluations) per song, rounded up to whole generations of the population.
        sigma: Initial step size in normalised units.
        seed: Seeds the optimiser (the same seed gives the same settings).
        weights: Reward term weights the search climbs, over the env's own (:func:`env_loss`).
    """

    name = "cmaes"

    def __init__(
        self, budget: int = 200, sigma: float = 0.3, seed: int = 0, weights: Mapping[str, float] | None = None
    ) -> None:
        super().__init__()
        if budget < 2:
            raise ValueError(f"CMA-ES needs a budget of at least 2 renders, got {budget}")
        self.budget, self.sigma, self.seed, self.weights = budget, sigma, seed, weights

    def decide(self, env: MixEnv) -> MixSettings:
        found = search(env_loss(env, self.weights), env.space.neutral_vector(), self.budget, self.sigma, self.seed)
        return env.space.to_physical(found)


REFINE_SIGMA = 0.05
"""The first step of a search from a prediction (normalised units), also ``mixenv mix --method refine``'s. Chosen
again for the search of :data:`UNMATCHED_CONTROLS` (2026-12-05, the songs and measure given there): 0.123 / 0.133 /
0.249 at 0.05, 0.128 / 0.138 / 0.256 at 0.15, and on the corpus's songs 0.130 at 0.025 and 0.131 at 0.1. First chosen
on validation songs (the corpus's validation split, chorales and folk of seed 12, the first 6 whole songs of each;
the default model's settings with each stem's tone and fader and the loudness matched, refined by ``mixenv mix``
with 100 renders of its excerpts; MRSTFT / neutral's): 0.232 / 0.277 / 0.277 at 0.05, 0.265 / 0.361 / 0.356 at
0.15 (the step before: from a start that close, steps of 0.15 on all 41 controls lead away, and seven generations
do not shrink them enough)."""


UNMATCHED_CONTROLS = (
    "hpf_hz",
    "comp_threshold_db",
    "comp_ratio",
    "master_comp_threshold_db",
    "master_comp_ratio",
    "master_limiter_db",
)
"""What a refinement with a reference searches: the controls no linear reading of the reference shows (each
stem's high-pass and compressor, the bus compressor and limiter: 15 of 41 for four stems); the match sets each
stem's fader, pan and EQ again after the search (:func:`refine`), and the bus shelves keep the start's values. The
stems' compressors are read from the reference by the start's match (:mod:`mixenv.dynamics`) and searched on from
there by the mix's own score; the closing match does not read them again. Chosen on validation songs before the
compressors were read (the corpus's validation split, chorales and folk of seed 12, 8 whole songs each, ``mixenv
mix --method refine`` at 100 renders, 2026-12-05; MRSTFT / neutral's; the model's matched prediction alone 0.167 /
0.201 / 0.311): all 41 controls 0.144 / 0.137 / 0.278,
these 0.123 / 0.133 / 0.249, these and the bus shelves 0.125 / 0.144 / 0.257. Since each stem is read from its
complex gain in the reference (:mod:`mixenv.inversion`) the start is close on what the match sets, and a search
of all 41 controls spent its renders moving them away and back."""


START_EQ_SCALES = (1.0, 0.5, 0.0)
"""Where :class:`RefinedPolicy` with ``match_starts`` starts, given a reference (:func:`eq_scaled`): the prediction with
each stem's EQ gains as predicted, halved and flat, each matched to the reference, the best by the refinement's loss
(two scored renders more, from the budget). The match settles where it starts (a stem's presence lift, for one, is
matched as a low-mid cut with its fader up from the prediction's start) and which start ends best varies by song.
Chosen on validation songs (the corpus's validation split, chorales and folk of seed 12, 24 songs each, the
benchmark's 4 s clip and refined prediction at 100 renders, 2026-12-07; MRSTFT / neutral's, ratio of means): the
prediction's start alone 0.0592 / 0.0617 / 0.0964, the best of these three 0.0576 / 0.0600 / 0.0899 (paired log-ratio
−0.031 / −0.029 / −0.084, t −2.0 / −1.9 / −2.9; the model's own start chosen on 16 / 10 / 8 songs, half its EQ on 6 /
4 / 7, flat on 2 / 10 / 9). Each start more is one more match: a refined song takes about twice as long. Not taken by
``mixenv mix --method refine``, which chooses on three excerpts and is scored on the whole song: there it did not
carry (the corpus's validation split, 8 whole songs, 100 renders, 2026-12-07: 0.0916 → 0.0936, 3 songs worse by more
than 0.5%, none better)."""


def fewest_renders(starts: int) -> int:
    """The fewest calls a refinement from ``starts`` starts may spend: each start scored, then a search from the best
    (its start, one generation, the re-match)."""
    return starts + 2


MIN_REFINE_BUDGET = fewest_renders(len(START_EQ_SCALES))
"""The fewest renders a refinement from matched starts may spend."""

EQ_GAINS = ("low_shelf_db", "mid_db", "high_shelf_db")
"""Each strip's EQ gains: what :data:`START_EQ_SCALES` scales."""


def eq_scaled(space: ParamSpace, vector: np.ndarray, scales: Sequence[float] = START_EQ_SCALES) -> np.ndarray:
    """Normalised settings ``vector`` with each stem's EQ gains (:data:`EQ_GAINS`, in dB) scaled by each of
    ``scales``: one row per scale, the other controls as they are."""
    values = space.to_physical(np.clip(np.asarray(vector, dtype=np.float64), -1.0, 1.0)).values
    gains = space.controls_named(EQ_GAINS)
    return np.stack([space.from_physical(np.where(gains, scale * values, values)).normalized() for scale in scales])


def try_mid_bands(
    space: ParamSpace,
    start: np.ndarray,
    readings: Sequence[Mapping[str, float]],
    loss: Callable[[np.ndarray], float],
    rematch: Callable[[np.ndarray], np.ndarray],
    budget: int,
) -> tuple[np.ndarray, int]:
    """Normalised settings ``start`` (matched to a reference) with each stem's mid band tried in the other regions
    of its range: each of ``readings`` (:func:`mixenv.balance.mid_band_alternatives` of ``start``, one stem's EQ
    changes each) put in place of that stem's EQ, then ``rematch``-ed and scored by ``loss`` (``start``'s score
    from memory, no render: :func:`mixenv.search.remembered`), kept where it beats the best so far, one stem after
    another (the loudest first), at most ``budget`` scored. Returns the settings kept and how many were scored.

    The match settles where its start is (a vocal's presence lift read as a low-mid cut with its fader up, from
    every start :data:`START_EQ_SCALES` gives), since both readings have nearly the same long-term tone; the mix's
    own score tells them apart.
    """
    best, best_loss = start, loss(start)
    readings = readings[: max(0, budget)]
    for changes in readings:
        candidate = rematch(space.to_physical(best).replace(changes).normalized())
        value = loss(candidate)
        if value < best_loss:
            best, best_loss = candidate, value
    return best, len(readings)


def searched_controls(space: ParamSpace, matched: bool) -> np.ndarray:
    """Boolean mask of the controls a refinement searches: :data:`UNMATCHED_CONTROLS` where each stem is matched to
    a reference after the search (``matched``), every control otherwise."""
    return space.controls_named(UNMATCHED_CONTROLS) if matched else np.ones(space.size, dtype=bool)


def refine(
    loss: Callable[[np.ndarray], float],
    rematch: Callable[[np.ndarray], np.ndarray],
    start: np.ndarray,
    budget: int,
    sigma: float,
    seed: int,
    searched: np.ndarray | None = None,
    rounds: int = 1,
) -> np.ndarray:
    """Normalised settings refined from ``start``: a CMA-ES :func:`search` on ``loss`` over the ``searched``
    controls (a boolean mask; default all; the others keep the start's values), the start scored and kept unless
    beaten, within ``budget - 1`` calls, then ``rematch`` of what it found (each stem's tone, fader and pan
    matched to the reference again, from there; its renders are not scored), scored (the last call) and kept if
    it beats what the search found. In ``rounds`` rounds, each spending an equal share of the budget from what
    the round before kept (fewer rounds where a share would be under 3 calls; round ``r`` seeded ``seed + r``).
    No point is scored twice (:func:`mixenv.search.remembered`: a ``loss`` that remembers already, as
    :class:`RefinedPolicy`'s does, gives a start it has scored for free).

    Why the re-match: the search moves controls that change each stem's balance and tone (a compressor's threshold
    lowers its stem's level; the searches before :data:`UNMATCHED_CONTROLS` moved all 41 controls); the
    closed-form match puts them back where the reference shows them. Chosen on validation songs (2026-12-04, all 41
    controls searched from the band-energy match; the corpus's validation split, chorales and folk of seed 12, 8
    whole songs each, ``mixenv mix --method refine`` at 100 renders, MRSTFT / neutral's): 0.276 / 0.313 / 0.334
    without, 0.267 / 0.313 / 0.332 with. (Tried there too and worse: searching only the controls the corpus's
    sensitivity calls audible, 0.272 / 0.327 / 0.377; steps per control scaled to equal sensitivity, 0.246 /
    0.374 / 0.328; populations of 8 and of 24 instead of 15, 0.280 and 0.278 on the corpus; a diagonal covariance,
    0.260 / 0.338 / 0.332.)
    """
    found = np.clip(np.asarray(start, dtype=np.float64), -1.0, 1.0)
    if budget < fewest_renders(1):
        raise ValueError(f"refining needs a budget of at least {fewest_renders(1)} calls, got {budget}")
    loss = remembered(loss)
    searched = np.ones(found.size, dtype=bool) if searched is None else np.asarray(searched, dtype=bool)

    def one_round(start: np.ndarray, budget: int, seed: int) -> np.ndarray:
        """The search from ``start`` within ``budget - 1`` calls, then the re-match, kept if it scores better."""

        def placed(values: np.ndarray) -> np.ndarray:
            vector = start.copy()
            vector[searched] = values
            return vector

        values, found_loss = search_scored(
            lambda v: loss(placed(v)), start[searched], budget - 1, sigma, seed, keep_start=True
        )
        found = placed(values)
        again = rematch(found)
        if np.array_equal(again, found):  # nothing to match against (no reference)
            return found
        return again if loss(again) < found_loss else found

    for r, share in enumerate(np.array_split(np.arange(budget), max(1, min(rounds, budget // 3)))):
        found = one_round(found, share.size, seed + r)
    return found


class RefinedPolicy:
    """Another policy's settings, refined by a CMA-ES search on the env's reward that starts from them.

    The start is scored first and counts against ``budget``; the best settings seen are kept, so the refined mix
    never scores below the start on the clip. With a reference, the search moves only what the stem match cannot
    read (:data:`UNMATCHED_CONTROLS`), and each stem's tone, fader and pan and the loudness are matched to it
    again from what the search found (:func:`refine`). Like :class:`CMAESPolicy` it sees the reward,
    hence the reference.

    Args:
        policy: The policy whose first action starts the search.
        budget: Renders per song, the starts' included (rounded up to whole CMA-ES generations, as for
            :class:`CMAESPolicy`: 12 candidates each for the 15 controls searched with a reference, 15 for all
            41 without).
        sigma: Initial step size in normalised units (:data:`REFINE_SIGMA`: much smaller than a search from
            neutral, since the start is close).
        seed: Seeds the optimiser.
        weights: Reward term weights the search climbs, over the env's own (:func:`env_loss`).
        match_starts: Take the policy's settings as a prediction to match first: with a reference, from each start
            of :data:`START_EQ_SCALES` (its balance, tone and loudness matched to the reference,
            :func:`matched_on_env`), the best with each stem's mid band tried in the other regions of its range
            (:func:`try_mid_bands`, with what the budget holds beyond a refinement's fewest renders), refining what
            scores best; without one, its faders set by the loudness-balance convention. ``False`` refines the
            policy's settings as they are.
    """

    def __init__(
        self,
        policy: MixPolicy,
        budget: int = 100,
        sigma: float = REFINE_SIGMA,
        seed: int = 0,
        weights: Mapping[str, float] | None = None,
        match_starts: bool = False,
    ) -> None:
        minimum = MIN_REFINE_BUDGET if match_starts else fewest_renders(1)
        if budget < minimum:
            raise ValueError(f"refining needs a budget of at least {minimum} renders here, got {budget}")
        self.policy, self.budget, self.sigma, self.seed, self.weights = policy, budget, sigma, seed, weights
        self.match_starts = match_starts
        self.name = f"{policy.name}, refined"
        self.action: np.ndarray | None = None

    def reset(self, env: MixEnv) -> None:
        self.policy.reset(env)
        self.action = None

    def act(self, observation: dict[str, np.ndarray], env: MixEnv) -> np.ndarray:
        if self.action is None:
            start = np.asarray(self.policy.act(observation, env), dtype=np.float64)
            base = env.unwrapped
            known = base.clip.reference is not None

            def rematch(vector: np.ndarray) -> np.ndarray:
                settings = base.space.to_physical(np.clip(vector, -1.0, 1.0))
                return matched_on_env(base, settings, match_stems=True, read_compressors=False).normalized()

            loss = remembered(env_loss(base, self.weights))
            budget = self.budget
            if self.match_starts:
                rows = eq_scaled(base.space, start, START_EQ_SCALES if known else (1.0,))
                starts = [matched_on_env(base, base.space.to_physical(v), match_stems=True).normalized() for v in rows]
                start = min(starts, key=loss)  # each start scored once; the refinement's start, from memory
                budget -= len(starts) - 1
                if known:
                    readings = mid_bands_on_env(base, base.space.to_physical(start))
                    start, spent = try_mid_bands(base.space, start, readings, loss, rematch, budget - fewest_renders(1))
                    budget -= spent
            searched = searched_controls(base.space, matched=known)
            found = refine(loss, rematch, start, budget, self.sigma, self.seed, searched)
            self.action = found.astype(np.float32)
        return self.action.copy()


def env_loss(env: MixEnv, weights: Mapping[str, float] | None = None) -> Callable[[np.ndarray], float]:
    """Minus the env's score of normalised settings on its current clip: what :func:`search` minimises.

    ``weights``: term name -> weight, over the env's reward weights (:data:`mixenv.env.REFERENCE_WEIGHTS` climbs
    the reference's spectrum and loudness alone); names of no reward term are refused.
    """
    chosen = override_weights(env.reward.weights, weights)

    def loss(x: np.ndarray) -> float:
        return -sum(chosen[name] * value for name, value in env.score_settings(np.asarray(x)).items())

    return loss


HEURISTICS: Mapping[str, type[_FixedPolicy]] = {
    p.name: p for p in (NeutralPolicy, LoudnessBalancePolicy, ReferenceMatchPolicy, StemMatchPolicy, CMAESPolicy)
}


def matched_on_env(
    env: MixEnv, settings: MixSettings, target_lufs: float = BUS_LUFS, *, use_reference: bool = True,
    match_stems: bool = False, read_compressors: bool = True,
) -> MixSettings:  # fmt: skip
    """``settings`` mastered to the loudness of ``env``'s current clip's reference (``target_lufs`` without one, or
    without ``use_reference``) on the very mix the env renders; with ``match_stems``, each stem's tone, fader and pan
    (and with ``read_compressors`` its compressor) matched to how it sounds in the reference first, or without one
    its fader set by the loudness-balance convention on the stem as its strip plays it
    (:func:`mixenv.balance.match_stems`)."""
    clip = env.clip
    known = use_reference and clip.reference is not None
    if match_stems:
        reference = clip.reference if known else None
        settings = match_stems_to(
            settings,
            _stems_on(env),
            reference,
            clip.sample_rate,
            read_compressors=read_compressors,
        )
    target = integrated_lufs(clip.reference, clip.sample_rate) if known else target_lufs
    return _to_loudness(env, settings, target)


def mid_bands_on_env(env: MixEnv, settings: MixSettings) -> list[dict[str, float]]:
    """:func:`mixenv.balance.mid_band_alternatives` of ``settings`` on ``env``'s current clip (which must have a
    reference), each stem heard as the env renders it."""
    return mid_band_alternatives(settings, _stems_on(env), env.clip.reference, env.clip.sample_rate)


def _stems_on(env: MixEnv) -> Callable[[MixSettings], Mapping[str, np.ndarray]]:
    """Settings -> each stem as ``env`` renders it on its current clip: what the stem matches read."""
    return lambda settings: env.render_settings(settings, stems=True).stems


def _to_loudness(env: MixEnv, settings: MixSettings, target_lufs: float) -> MixSettings:
    """Reach ``target_lufs`` at the output of ``env``'s current clip (the limiter first, then the faders)."""

    def render(candidate: MixSettings) -> np.ndarray:  # the mix the env itself would produce
        return env.render_settings(candidate).mix

    return drive_to_loudness(render, settings, env.clip.roles, env.clip.sample_rate, target_lufs)
