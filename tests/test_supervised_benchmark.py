"""The supervised benchmark's bookkeeping: aggregation over seeds, the goals, the tables (no training here)."""

from __future__ import annotations

import pytest

from experiments.benchmark_supervised import Variant, aggregate, goals, markdown


def _row(label: str, seed: int | None, mae: float, mrstft: float) -> dict:
    row = {"label": label, "seed": seed, "param_mae": mae, "param_mse": mae**2, "mrstft": mrstft}
    return row | ({"train_seconds": 120.0, "val_loss": 0.05} if seed is not None else {})


ROWS = [
    _row("cnn", 0, 0.10, 0.50),
    _row("cnn", 1, 0.12, 0.70),
    _row("crnn", 0, 0.15, 0.40),
    _row("attention", 0, 0.2, 0.9),
    _row("patch", 0, 0.2, 0.9),
    _row("predict the mean", None, 0.20, 0.80),
    _row("neutral", None, 0.40, 1.20),
]


def test_aggregate_gives_mean_and_spread_over_seeds() -> None:
    table = aggregate(ROWS)
    assert table["cnn"]["seeds"] == 2 and table["neutral"]["seeds"] == 0
    assert table["cnn"]["param_mae"]["mean"] == pytest.approx(0.11)
    assert table["cnn"]["param_mae"]["std"] == pytest.approx(0.01)  # population std of (0.10, 0.12)
    assert table["cnn"]["minutes_per_seed"] == pytest.approx(2.0) and "minutes_per_seed" not in table["neutral"]


def test_goals_compare_the_best_model_with_the_baselines() -> None:
    result = goals(aggregate(ROWS))
    assert result["best_model"] == "cnn"
    assert result["param_mae"]["ratio"] == pytest.approx(0.55) and not result["param_mae"]["met"]
    assert result["mrstft"]["ratio"] == pytest.approx(0.5) and result["mrstft"]["met"]
    assert result["lowest_mrstft_model"] == "crnn"


def test_markdown_table_shows_mean_and_std_only_with_seeds() -> None:
    text = markdown("title", aggregate(ROWS))
    assert "| cnn | 2 | 0.110 ± 0.010 |" in text
    assert "| neutral | – | 0.400 |" in text


def test_variant_keys_name_their_changes() -> None:
    assert Variant("x", "crnn").key == "crnn"
    assert Variant("x", "crnn", {"augment": (), "depth": 3}).key == "crnn__augment-_depth-3"
    assert Variant("x", "cnn", {"augment": ("time", "gain")}).key == "cnn__augment-time+gain"
