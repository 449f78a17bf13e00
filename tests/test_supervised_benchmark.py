"""The supervised benchmark: its bookkeeping (aggregation over seeds, the goals, the tables), and a tiny run end to
end: every recipe trained, then scored by ``experiments.benchmark``, the tables read from its rows."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from experiments.benchmark_supervised import (
    BASELINES,
    MODELS,
    Bench,
    Budget,
    Variant,
    aggregate,
    benchmark_rows,
    goals,
    markdown,
    plot,
    report,
    run_benchmark,
)
from experiments.compare import TEST_SPLIT
from experiments.methods import MATCHED

pytestmark = pytest.mark.usefixtures("quick_compressor_reading")  # tests of mixing, not of the reading


def _row(label: str, seed: int | None, error: float, mrstft: float) -> dict:
    row = {"label": label, "seed": seed, "param_audible": error, "param_mae": 2 * error, "mrstft": mrstft}
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
    assert table["cnn"]["param_audible"]["mean"] == pytest.approx(0.11)
    assert table["cnn"]["param_audible"]["std"] == pytest.approx(0.01)  # population std of (0.10, 0.12)
    assert table["cnn"]["minutes_per_seed"] == pytest.approx(2.0) and "minutes_per_seed" not in table["neutral"]


def test_goals_compare_the_best_model_with_the_baselines() -> None:
    result = goals(aggregate(ROWS))
    assert result["best_model"] == "cnn"  # by the audible parameter error
    assert result["param_audible"]["ratio"] == pytest.approx(0.55) and not result["param_audible"]["met"]
    assert result["mrstft"]["ratio"] == pytest.approx(0.5) and result["mrstft"]["met"]
    assert result["lowest_mrstft_model"] == "crnn"


def test_markdown_table_shows_mean_and_std_only_with_seeds() -> None:
    text = markdown("title", aggregate(ROWS))
    assert "| cnn | 2 | 0.110 ± 0.010 | 0.220 ± 0.020 |" in text
    assert "| neutral | – | 0.400 | 0.800 |" in text


def test_variant_keys_name_their_changes() -> None:
    assert Variant("x", "crnn").key == "crnn"
    assert Variant("x", "crnn", {"augment": (), "depth": 3}).key == "crnn__augment-_depth-3"
    assert Variant("x", "cnn", {"augment": ("time", "gain")}).key == "cnn__augment-time+gain"


def test_benchmark_rows_become_one_row_per_seed_of_song_means_with_the_other_sets_prefixed() -> None:
    rows = [
        {"set": TEST_SPLIT, "method": "cnn", "seed": 0, "song": "a", "mrstft": 0.4},
        {"set": TEST_SPLIT, "method": "cnn", "seed": 0, "song": "b", "mrstft": 0.6},
        {"set": "folk", "method": "cnn", "seed": 0, "song": "c", "mrstft": 0.9},
        {"set": TEST_SPLIT, "method": "cnn", "seed": 1, "song": "a", "mrstft": 0.7},
        {"set": TEST_SPLIT, "method": "neutral", "seed": 0, "song": "a", "mrstft": 1.0},
    ]
    found = benchmark_rows(rows, "cnn", "cnn, as labelled")
    assert [(r["label"], r["seed"]) for r in found] == [("cnn, as labelled", 0), ("cnn, as labelled", 1)]
    assert found[0]["mrstft"] == pytest.approx(0.5) and found[0]["folk:mrstft"] == pytest.approx(0.9)
    assert "folk:mrstft" not in found[1]


@pytest.mark.usefixtures("one_thread")
def test_every_recipe_trained_then_scored_by_the_benchmark_and_the_tables_read_from_its_rows(
    tiny_corpus: Path,
    tiny_backbone: Path,
    tiny_reward_models: tuple[Path, Path],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from experiments import benchmark
    from mixenv.features import FeatureConfig
    from mixenv.params import ParamSpace
    from supervised.train import load_training_data

    data = load_training_data(tiny_corpus, ParamSpace(), FeatureConfig(), progress=False)
    budget = Budget(epochs=1, steps_per_epoch=1, batch_size=4, clip_seconds=1.0, seeds=(0, 1), eval_clip_seconds=1.0,
                    cmaes_budget=5, variations=2, variation_epochs=1)  # fmt: skip
    runs, out = tmp_path / "runs", tmp_path / "out"
    tiny = {"init_backbone": str(tiny_backbone), "width": 32}
    overrides = {model: tiny for model in ("cnn", "crnn", "attention", "cvae")} | {"patch": {"width": 32}}
    bench = Bench(budget, data, runs, overrides=overrides)
    # The benchmark on the tiny corpus's test split, with tiny reward models and its train split's mean.
    backbone, good_mix = tiny_reward_models
    called: list[list[str]] = []
    real = benchmark.main

    def run(argv: list[str]) -> int:
        called.append(argv)
        tiny = ["--backbone-path", str(backbone), "--good-mix-path", str(good_mix), "--train-corpus", str(tiny_corpus)]
        return real([*argv, *tiny])

    monkeypatch.setattr(benchmark, "main", run)
    monkeypatch.setattr(benchmark, "evaluation_sets", lambda: {TEST_SPLIT: {"data_path": str(tiny_corpus)}})
    results = run_benchmark(bench, out)

    chosen = results["ablation_model"]
    argv = called[0]
    models = argv[argv.index("--models") + 1 : argv.index("--predicted-only")]
    assert f"cnn={runs}/cnn__seed{{seed}}/model.pt" in models  # a main model: one per seed
    assert f"{chosen}, none={runs}/{chosen}__augment-__seed0/model.pt" in models  # an ablation: the first seed's
    assert len(models) == 16 and argv[argv.index("--refine") + 1] == "--learned"  # none refined
    # Every form of the ablation model and the cvae; only the prediction of the others (no table reads the rest).
    only = argv[argv.index("--predicted-only") + 1 : argv.index("--refine")]
    assert sorted(only) == sorted(label for label, _ in (m.split("=") for m in models) if label not in (chosen, "cvae"))
    seeds = argv.index("--seeds")
    assert argv[seeds + 1 : seeds + 3] == ["0", "1"] and argv[argv.index("--out") + 1] == str(out)
    rows = json.loads((out / "results.json").read_text())["rows"]
    main = results["tables"]["main"]
    forms = [
        f"{chosen}, reference hidden",
        f"{chosen}, loudness matched",
        f"{chosen}, {MATCHED}",
        f"{chosen}, reference-free",
    ]
    assert list(main) == [*MODELS, *forms, *BASELINES]
    cnn = [r for r in rows if r["method"] == "cnn" and r["set"] == TEST_SPLIT]
    assert main["cnn"]["seeds"] == 2  # the mean over seeds of the per-song means: one song here
    assert main["cnn"]["mrstft"]["mean"] == pytest.approx(np.mean([r["mrstft"] for r in cnn]))
    trained = {(r["label"], r["seed"]): r for group in results["training"].values() for r in group}
    assert main["cnn"]["val_loss"] == pytest.approx(np.mean([trained[("cnn", s)]["val_loss"] for s in (0, 1)]))
    assert main["neutral"]["seeds"] == 0 and "minutes_per_seed" not in main["neutral"]
    g = results["goals"]
    assert g["param_audible"]["predict_the_mean"] == main["predict the mean"]["param_audible"]["mean"] > 0
    assert g["mrstft"]["neutral"] == main["neutral"]["mrstft"]["mean"] and g["best_model"] in MODELS
    assert main["ground truth"]["param_audible"]["mean"] == pytest.approx(0.0, abs=1e-6)
    # Ablations: their reference row is the main run's first seed; each variant's own row its benchmark rows.
    augmentation = results["tables"]["augmentation"]
    assert augmentation[f"{chosen}, gain jitter (default)"]["seeds"] == 1
    assert list(augmentation)[1:] == [f"{chosen}, all four", f"{chosen}, none"]
    assert len(results["tables"]["head"]) == 7
    variations = results["tables"]["variations"]
    assert list(variations) == [
        "cvae, 2 samples per clip",
        "cvae, most typical mix",
        "cvae, reference-free",
        chosen,
        f"{chosen}, reference-free",
    ]
    sampled = variations["cvae, 2 samples per clip"]
    assert results["diversity"]["spread"]["mean"] > 0 and np.isfinite(sampled["mrstft"]["mean"])
    text = report(results)
    assert "Goals" in text and "audible parameter error" in text and "| cnn | 2 |" in text
    assert plot(results, tmp_path / "plot.png").is_file()
