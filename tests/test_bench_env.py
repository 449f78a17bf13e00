"""The env benchmark runs on the tiny corpus and reports finite, positive rates and ratios."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch

from experiments.bench_env import bench_single


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
