"""The benchmarks' shared helpers: the metric agreement table and the agents' learning curves."""

from __future__ import annotations

import pytest

from experiments.compare import format_agreement, metric_agreement


def test_metric_agreement_ranks_metrics_against_each_other() -> None:
    rows = [
        {"mrstft": x, "lufs_error": 2 * x + 1, "fad": -x, "anomaly": (x - 2) ** 2, "param_mae": 0.5}
        for x in (0.0, 1.0, 2.0, 3.0, 4.0)
    ]
    agreement = metric_agreement(rows)
    assert "param_mae" not in agreement  # constant over the rows: no ranking to compare
    assert agreement["mrstft"]["lufs_error"] == pytest.approx(1.0)  # any increasing function ranks alike
    assert agreement["mrstft"]["fad"] == pytest.approx(-1.0)
    assert agreement["mrstft"]["anomaly"] == pytest.approx(0.0)  # symmetric about the middle row
    assert all(agreement[m][m] == pytest.approx(1.0) for m in agreement)
    table = format_agreement(agreement, "agreement")
    assert table.splitlines()[0] == "agreement" and "lufs_error" in table


def test_learning_curves_average_validation_returns_over_seeds(tmp_path) -> None:
    import argparse
    import json

    from experiments.benchmark_rl import learning_curves, plot_learning_curves

    for seed, returns in ((0, [-0.2, 0.1]), (1, [0.0, 0.3])):
        run = tmp_path / "runs" / f"ppo_seed{seed}"
        run.mkdir(parents=True)
        history = [{"timesteps": 1000 * (i + 1), "return": r, "mrstft": 1.0} for i, r in enumerate(returns)]
        (run / "validation.json").write_text(json.dumps(history))
    curves = learning_curves(argparse.Namespace(out=tmp_path), {"ppo": [0, 1]})
    assert [p["timesteps"] for p in curves["ppo"]] == [1000, 2000]
    assert [p["return"] for p in curves["ppo"]] == pytest.approx([-0.1, 0.2])
    assert [p["return_std"] for p in curves["ppo"]] == pytest.approx([0.1, 0.1])
    assert plot_learning_curves(curves, tmp_path / "curves.png", "title").stat().st_size > 1000


def test_comparisons_measure_the_audible_error_on_a_corpus_only(
    tiny_corpus, tiny_reward_models, tmp_path, monkeypatch
) -> None:
    from experiments.compare import metric_suite_of
    from mixenv import artifacts
    from mixenv.env import MixEnv

    measured = []
    monkeypatch.setattr(artifacts, "sensitivity", lambda corpus: measured.append(corpus) or _Weights())
    backbone, good_mix = tiny_reward_models
    env = MixEnv(data_path=str(tiny_corpus), split="test", clip_seconds=1.0, backbone_path=str(backbone),
                 good_mix_path=str(good_mix))  # fmt: skip
    assert metric_suite_of(env).control_weights == {"vocals.gain_db": 1.0} and measured == [tiny_corpus]
    folder = tmp_path / "songs"
    (folder / "one").mkdir(parents=True)
    for name in ("vocals.wav", "drums.wav", "reference.wav"):
        (folder / "one" / name).symlink_to(tiny_corpus / "song_0000" / name)
    plain = MixEnv(data_source="folder", data_path=str(folder), split=None, clip_seconds=1.0,
                   backbone_path=str(backbone), good_mix_path=str(good_mix))  # fmt: skip
    assert metric_suite_of(plain).control_weights is None  # a folder of stems has no ground truth to weigh


class _Weights:
    sensitivity = {"vocals.gain_db": 1.0}  # noqa: RUF012
