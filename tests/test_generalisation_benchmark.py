"""The generalisation benchmark's bookkeeping: ratios to neutral per set, the summary table, the goals (no mixing
here)."""

from __future__ import annotations

import pytest

from experiments.benchmark_generalisation import ABLATIONS, BUDGET, RECIPES
from experiments.compare import TEST_SPLIT, format_generalisation, format_goals, goals, ratios
from supervised.args import TrainArgs


def _runs(*mrstft: float, lufs: float = 0.0) -> list[dict[str, float]]:
    return [{"mrstft": value, "lufs_error": lufs} for value in mrstft]


RESULTS = {
    TEST_SPLIT: {
        "neutral": _runs(1.0, lufs=2.0),
        "loudness balance": _runs(0.8),
        "reference matching": _runs(0.6),
        "cma-es": _runs(0.6, 0.7),
        "learned": _runs(0.4, 0.6, lufs=0.2),
    },
    "chorales": {
        "neutral": _runs(2.0),
        "loudness balance": _runs(1.4),
        "reference matching": _runs(1.6),
        "cma-es": _runs(1.5),
        "learned": _runs(1.0, 1.2, lufs=0.7),
    },
}


def test_ratios_divide_by_the_neutral_mix_of_the_same_set_and_average_over_seeds() -> None:
    table = ratios(RESULTS)
    assert table[TEST_SPLIT]["learned"] == pytest.approx(0.5) and table[TEST_SPLIT]["cma-es"] == pytest.approx(0.65)
    assert table["chorales"]["learned"] == pytest.approx(0.55) and table["chorales"]["neutral"] == 1.0


def test_goals_say_which_are_met_with_their_numbers() -> None:
    result = goals(RESULTS, "learned")["sets"]["chorales"]
    assert result["beats_every_heuristic"] and result["best_heuristic"] == pytest.approx(0.7)
    assert result["relative_gap"] == pytest.approx(0.1) and result["lufs_error"] == pytest.approx(0.7)
    text = format_goals(goals(RESULTS, "learned"))
    assert "beat every heuristic: met" in text and "goal <= 0.5: NOT met" in text and "+10%" in text
    assert result["training_free_gap"] == pytest.approx(0.75 / 0.65 - 1)  # the sets' difficulty, learning nothing
    assert "cma-es, which learns nothing, moves +15%" in text


def test_the_summary_has_a_ratio_and_a_loudness_column_per_set() -> None:
    lines = format_generalisation(RESULTS, "summary").splitlines()
    assert "mrstft/neutral chorales" in lines[1] and "LU error chorales" in lines[1]
    assert lines[-1].split("|")[0].strip() == "learned" and "0.55" in lines[-1]


def test_every_recipe_is_a_valid_training_configuration() -> None:
    for changes in (RECIPES | ABLATIONS).values():
        TrainArgs(**(BUDGET | changes))  # refuses unknown fields and bad values


def test_each_ablation_leaves_out_one_randomisation_of_the_randomised_recipe() -> None:
    full = RECIPES["cnn, randomised"]
    for label, changes in ABLATIONS.items():
        differ = {key for key in full.keys() | changes.keys() if full.get(key) != changes.get(key)}
        assert len(differ) == 1, (label, differ)


def test_the_benchmark_runs_every_recipes_models_one_per_seed(monkeypatch: pytest.MonkeyPatch, tmp_path) -> None:
    from experiments import benchmark_generalisation

    trained, called = [], []
    monkeypatch.setattr(
        benchmark_generalisation, "train_recipe", lambda label, seed, runs: trained.append((label, seed))
    )
    monkeypatch.setattr(benchmark_generalisation.benchmark, "main", lambda argv: called.append(argv) or 0)
    argv = ["--seeds", "0", "1", "--recipes", "cnn", "cnn, randomised", "--refine", "cnn", "--runs", str(tmp_path)]
    assert benchmark_generalisation.main(argv) == 0
    assert trained == [("cnn", 0), ("cnn", 1), ("cnn, randomised", 0), ("cnn, randomised", 1)]
    passed = called[0]
    models = passed[passed.index("--models") + 1 : passed.index("--refine")]
    assert models == [f"supervised cnn={tmp_path}/supervised/cnn__seed{{seed}}",
                      f"supervised cnn, randomised={tmp_path}/supervised/cnn__randomised__seed{{seed}}"]  # fmt: skip
    assert passed[passed.index("--refine") + 1] == "supervised cnn" and passed[passed.index("--seeds") + 2] == "1"
