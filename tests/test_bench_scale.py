"""The scaling benchmark's arithmetic: rates at the margin apart from fixed costs, and the cluster projection."""

from __future__ import annotations

import time

import pytest

from experiments.bench_scale import CORES_PER_NODE, DRIVER_MB_PER_S, NODES, _marginal, projection
from mixenv.engines import Engine


def test_the_rate_at_the_margin_leaves_the_fixed_cost_apart() -> None:
    def run(engine: Engine, n: int) -> None:  # 0.2 s to start, then 0.05 s an item
        assert engine.name == "local" and engine.processes == 1
        time.sleep(0.2 + 0.05 * n)

    measured = _marginal("local", 1, (2, 6), run)
    assert measured["rate"] == pytest.approx(60 / 0.05, rel=0.15)
    assert measured["fixed s"] == pytest.approx(0.2, abs=0.05)
    assert measured["ray start s"] == 0.0


def test_the_projection_scales_one_workers_rate_and_adds_the_bounds() -> None:
    results = {
        "corpus": {
            "engines": {"ray, 1 CPU": {"rate": 60.0}, "ray, 2 CPUs": {"rate": 90.0}},  # songs/min
            "MB per song": 4.0,
        },
        "rl": {
            "engines": {
                "rllib, 1 env runner": {"rate": 10.0, "learner rate": 100.0},  # steps/s
                "rllib, 2 env runners": {"rate": 20.0, "learner rate": 100.0},
            }
        },
    }
    projected = projection(results)
    workers = NODES * CORES_PER_NODE
    compute = 10_000 / (60 * workers * 0.75)  # minutes, at 0.75 efficiency
    writing = 10_000 * 4.0 / DRIVER_MB_PER_S / 60
    assert projected["10 000-song corpus (min)"] == pytest.approx(max(compute, writing))
    sampling = 1 / (1 / 10 - 1 / 100)  # 11.1 steps/s while sampling, the rest of a step's time is learning
    ppo = 1_000_000 * (1 / (sampling * (workers - NODES)) + 1 / 100) / 60
    assert projected["1 M-step PPO (min)"] == pytest.approx(ppo)
    assert "0.75 corpus" in projected["assumptions"] and "1.00 RLlib" in projected["assumptions"]
