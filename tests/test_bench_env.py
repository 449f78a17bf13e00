"""The env benchmark runs on the tiny corpus and reports finite, positive rates and ratios."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch

from experiments.bench_env import bench_single, bench_training_clip


@pytest.mark.parametrize("observation", ["logmel", "embedding"])
def test_bench_single_reports_rates_ratios_and_term_costs(
    tiny_corpus: Path, tiny_reward_models: tuple[Path, Path], observation: str
) -> None:
    backbone, good_mix = tiny_reward_models
    threads = torch.get_num_threads()
    try:
        results = bench_single(
            {
                "data_path": str(tiny_corpus),
                "clip_seconds": 1.0,
                "max_episode_steps": 3,
                "backbone_path": str(backbone),
                "good_mix_path": str(good_mix),
                "observation": observation,
            },
            steps=6,
        )
    finally:
        torch.set_num_threads(threads)  # the benchmark pins one thread, as one env worker would
    assert all(math.isfinite(v) and v > 0 for v in results.values())
    ratio = results["env steps/s"] / results["render-only steps/s"]
    assert results["env step vs render-only step"] == pytest.approx(ratio)
    assert results["env steps/s, resets included"] < results["env steps/s"]  # resets cost time
    assert {"term spectral ms", "term loudness ms", "term fad ms", "term anomaly ms"} <= set(results)


@pytest.mark.usefixtures("one_thread")
def test_bench_training_clip_compares_the_training_clip_with_the_envs(
    tiny_corpus: Path, tiny_reward_models: tuple[Path, Path]
) -> None:
    backbone, good_mix = tiny_reward_models
    kwargs = {"data_path": str(tiny_corpus), "clip_seconds": 2.0, "max_episode_steps": 3,
              "backbone_path": str(backbone), "good_mix_path": str(good_mix)}  # fmt: skip
    results = bench_training_clip(kwargs, steps=12, training_clip=0.5, rounds=1)
    own, short = results["embedding env steps/s, 2 s clip"], results["embedding env steps/s, 0.5 s training clip"]
    assert results["training clip vs env clip (steps/s)"] == pytest.approx(short / own)
    assert short > own  # a quarter of the audio to render and score
