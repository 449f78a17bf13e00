"""Every mixing method a comparison lines up, each with the env it mixes in: one definition for ``make run`` and the
generalisation benchmark."""

from __future__ import annotations

import functools
from collections.abc import Mapping
from typing import Any

import numpy as np

from agents.episodes import BEST_OF_EPISODE, BestOfEpisode
from agents.heuristics import (
    CMAESPolicy,
    LoudnessBalancePolicy,
    NeutralPolicy,
    ReferenceMatchPolicy,
    RefinedPolicy,
    StemMatchPolicy,
)
from agents.policies import LoudnessMatchedPolicy, MixPolicy
from agents.trained import TrainedAgent
from mixenv import artifacts
from mixenv.data.corpus import corpus_songs
from mixenv.env import REFERENCE_WEIGHTS, MixEnv
from mixenv.params import ParamSpace
from supervised.default import default_model_path
from supervised.policy import SupervisedPolicy
from supervised.predictors import songs_mean

MATCHED = "balance, tone and loudness matched"
"""The form of a model whose settings are matched to the reference's stems and loudness (what is refined)."""


class GroundTruthPolicy:
    """Plays the clip's ground-truth settings: what a perfect method would reach (songs with a ground truth)."""

    name = "ground truth"

    def __init__(self) -> None:
        self.action = np.zeros(0, np.float32)

    def reset(self, env: MixEnv) -> None:
        if env.clip.settings is None:
            raise ValueError(f"song {env.clip.name!r} has no ground-truth settings")
        self.action = env.clip.settings.normalized()

    def act(self, observation: dict[str, np.ndarray], env: MixEnv) -> np.ndarray:
        return self.action


class MeanPolicy:
    """Plays predict-the-mean's settings on every song: the mean normalised ground truth of a corpus's train split
    (:func:`supervised.predictors.songs_mean`), the baseline a supervised model's parameter error is measured
    against (it sees no audio). Taken on its first episode, once per corpus and process.

    Args:
        corpus: The corpus folder whose train split is averaged (``None``: the default corpus, which the supervised
            models train on).
    """

    name = "predict the mean"

    def __init__(self, corpus: str | None = None) -> None:
        self.corpus = corpus
        self.action = np.zeros(0, np.float32)

    def reset(self, env: MixEnv) -> None:
        self.action = train_mean(self.corpus or str(artifacts.corpus()), env.space)

    def act(self, observation: dict[str, np.ndarray], env: MixEnv) -> np.ndarray:
        return self.action


@functools.cache
def train_mean(corpus: str, space: ParamSpace) -> np.ndarray:
    """Predict-the-mean's settings of a corpus's train split in ``space`` (its songs are read once per process;
    read-only, as every episode plays the same array)."""
    mean = songs_mean(corpus_songs(corpus, "train"), space)
    mean.setflags(write=False)
    return mean


def search_weights(env: MixEnv) -> Mapping[str, float] | None:
    """What the searches climb in ``env``: toward a reference its spectral and loudness terms alone
    (:data:`mixenv.env.REFERENCE_WEIGHTS`, as ``mixenv mix`` searches); without one, the env's own reward."""
    return REFERENCE_WEIGHTS if env.uses_reference else None


def heuristics(env: MixEnv, cmaes_budget: int, seed: int) -> dict[str, tuple[MixPolicy, MixEnv]]:
    """The classic baselines, in ``env``."""
    return {
        "neutral": (NeutralPolicy(), env),
        "loudness balance": (LoudnessBalancePolicy(), env),
        "reference matching": (ReferenceMatchPolicy(), env),
        "stem matching": (StemMatchPolicy(), env),
        "cma-es": (CMAESPolicy(budget=cmaes_budget, seed=seed, weights=search_weights(env)), env),
    }


def supervised(
    env: MixEnv, run: Any, label: str, refine_budget: int | None = None, seed: int = 0, runtime: str = "torch"
) -> dict[str, tuple[MixPolicy, MixEnv]]:
    """A trained supervised model as it predicts, and as it predicts with the reference hidden (how much it reads
    the reference); with its prediction mastered to the reference's loudness, and with each stem's tone, fader and pan
    matched to the reference too (:func:`mixenv.balance.match_stems`); reference-free, its faders set by the
    loudness-balance convention on the stems as its strips play them and mastered to -14 LUFS (what a user without
    a reference gets); and, given a budget, its balance-, tone- and loudness-matched prediction refined
    by CMA-ES (predict, then refine) on what :func:`search_weights` climbs, from the best of three matched starts
    (:data:`agents.heuristics.START_EQ_SCALES`) with each stem's mid band tried in the other regions of its range
    (:func:`agents.heuristics.try_mid_bands`).

    With ``runtime="onnx"`` (``run`` an exported ``.onnx`` file) the export fixes whether the model reads a
    reference: a graph with one gives the forms that read it, a ``--no-reference`` graph the two that do not.

    Chosen on the validation songs (12 of the corpus's validation split, 12 of a folk set of another seed than the
    test set's; MRSTFT / neutral's, 100 renders): the search on the reference's spectral and loudness terms ends at
    0.341 and 0.358 from the loudness-matched start (on the env's whole reward 0.383 and 0.391), 0.329 and 0.359
    from the balance-matched one."""
    model = SupervisedPolicy(run, name=label, runtime=runtime)
    reads = model.predictor.reads_reference
    chosen: dict[str, tuple[MixPolicy, MixEnv]] = {}
    if reads is not False:
        chosen[label] = (model, env)
        chosen[f"{label}, loudness matched"] = (LoudnessMatchedPolicy(model), env)
        chosen[f"{label}, {MATCHED}"] = (LoudnessMatchedPolicy(model, match_stems=True), env)
        if refine_budget is not None:
            start = SupervisedPolicy(run, name=label, runtime=runtime)
            weights = search_weights(env)
            refined = RefinedPolicy(start, budget=refine_budget, seed=seed, weights=weights, match_starts=True)
            chosen[f"{label}, refined"] = (refined, env)
    if reads is not True:
        hidden = SupervisedPolicy(run, use_reference=False, name=f"{label}, reference hidden", runtime=runtime)
        blind = SupervisedPolicy(run, use_reference=False, name=f"{label}, reference-free", runtime=runtime)
        chosen[f"{label}, reference hidden"] = (hidden, env)
        chosen[f"{label}, reference-free"] = (LoudnessMatchedPolicy(blind, use_reference=False, match_stems=True), env)
    return chosen


def model_start() -> MixPolicy:
    """The default supervised model's settings, mastered to the reference's loudness: the start the refining agent
    of :mod:`experiments.benchmark_rl` moves from (its run records this function, so the agent's episodes start
    here wherever it is evaluated)."""
    return LoudnessMatchedPolicy(SupervisedPolicy(default_model_path(), name="supervised default model"))


def agent(agent_policy: TrainedAgent, data: dict[str, Any], label: str) -> dict[str, tuple[MixPolicy, MixEnv]]:
    """A trained agent (stable-baselines3's or RLlib's: :func:`agents.policies.load_agent`), in an env on the songs
    of ``data`` (their test split, unless ``data`` names a split) that observes what it was trained on and starts
    where its training did (an agent that refines a start policy's settings, from that policy's); ending on the
    best-scoring mix it rendered (:class:`agents.episodes.BestOfEpisode`); and, for an agent of absolute actions,
    with its mixes mastered to the reference's loudness.

    Raises:
        ValueError: If the agent's run names a start it does not record how to make
            (:meth:`agents.trained.TrainedAgent.start_policy`).
    """
    rest = {k: v for k, v in data.items() if k != "split"}
    env = agent_policy.env(data.get("split", "test"), **rest)
    chosen = {label: (agent_policy, env), f"{label}, {BEST_OF_EPISODE}": (BestOfEpisode(agent_policy), env)}
    if env.action_mode == "absolute":
        chosen[f"{label}, loudness matched"] = (LoudnessMatchedPolicy(agent_policy), env)
    return chosen
