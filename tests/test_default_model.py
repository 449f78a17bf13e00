"""The default mixing model that ``mixenv mix`` and ``make run`` use: shipped, loadable, the benchmarked recipe, the
recorded run's best epoch, and reproduced exactly by its one command (its first epoch here, from an empty cache in
CI; ``python -m supervised.default --out DIR`` reruns all of it)."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from mixenv.fingerprint import platform, weights_digest
from mixenv.params import ROLES, ParamSpace
from supervised.args import TrainArgs
from supervised.checkpoint import load_model
from supervised.default import (
    RECIPE,
    SHIPPED,
    VAL_LOSS_RTOL,
    default_model_path,
    differing_weights,
    reproduce,
    reproduction_problems,
    shipped_record,
)
from supervised.run_state import epoch_weights, jsonable


def test_the_shipped_model_is_there_and_mixes_the_four_roles() -> None:
    loaded = load_model(default_model_path())
    assert loaded.module.space == ParamSpace(ROLES) and SHIPPED.stat().st_size < 4_000_000
    assert loaded.module.config.name == RECIPE.model


def test_the_shipped_recipe_is_the_one_the_generalisation_benchmark_measures() -> None:
    from experiments.benchmark_generalisation import BUDGET, RECIPES

    benchmarked = TrainArgs(model="cnn", seed=0, progress=False, **(BUDGET | RECIPES["cnn, randomised"]))
    assert benchmarked == RECIPE


def test_a_missing_model_names_the_command_that_makes_it(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr("supervised.default.SHIPPED", tmp_path / "default_model.pt")
    with pytest.raises(FileNotFoundError, match=r"python -m supervised\.default"):
        default_model_path()


def test_weights_that_differ_are_named(tmp_path: Path) -> None:
    from supervised.checkpoint import save_model

    loaded = load_model(default_model_path())
    name, tensor = next(iter(loaded.module.state_dict().items()))
    tensor.add_(1e-3)  # in place: the state dict shares the parameters' storage
    changed = save_model(tmp_path / "changed.pt", loaded)
    assert differing_weights(SHIPPED, SHIPPED) == [] and differing_weights(changed, SHIPPED) == [name]


def test_the_shipped_weights_are_the_recorded_runs_best_epoch() -> None:
    record = shipped_record()
    assert record["recipe"] == jsonable(dataclasses.asdict(RECIPE))
    assert len(record["weights"]) == RECIPE.epochs and 1 <= record["best_epoch"] <= RECIPE.epochs
    assert weights_digest(load_model(SHIPPED).module) == record["weights"][record["best_epoch"] - 1]


@pytest.mark.slow
def test_the_one_command_reproduces_the_recorded_first_epoch(first_use, tmp_path: Path) -> None:
    """Trains the recipe's first epoch again (about a minute on 2 cores: the remixes are made whatever the epochs)
    on the default corpus and backbone that ``first_use`` built: in CI both are built from nothing, so this checks
    the chain from an empty cache to the weights the shipped model's run had after its first epoch (bit for bit on
    a platform the record has fingerprints for, its validation loss to the tolerance elsewhere)."""
    run = reproduce(tmp_path / "default", stop_after=1)
    assert len(epoch_weights(run)) == 1 and reproduction_problems(run) == []


def _history(folder: Path, *rows: tuple[str, float]) -> Path:
    lines = ["epoch,val_loss,weights", *(f"{i},{loss!r},{digest}" for i, (digest, loss) in enumerate(rows, 1))]
    (folder / "history.csv").write_text("\n".join(lines) + "\n")
    return folder


def test_a_recorded_platform_is_held_to_its_fingerprints_and_another_to_the_validation_loss(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    other = {"platform": "a CPU of the record", "weights": ["0123456789abcdef"], "val_loss": [0.12]}
    record = {"weights": ["fedcba9876543210", "fedcba9876543211"], "platforms": [other]}
    monkeypatch.setattr("supervised.default.shipped_record", lambda: record)
    nearly, far = 0.12 * (1 + VAL_LOSS_RTOL / 2), 0.12 * (1 + VAL_LOSS_RTOL * 2)
    monkeypatch.setattr("supervised.default.platform", lambda: "a CPU of the record")
    assert reproduction_problems(_history(tmp_path, ("0123456789abcdef", nearly))) == []
    assert reproduction_problems(_history(tmp_path, ("0123456789abcdee", 0.12))) == [
        "epoch 1: weights differ from the record's on a CPU of the record"
    ]
    monkeypatch.setattr("supervised.default.platform", lambda: "an unrecorded CPU")
    assert reproduction_problems(_history(tmp_path, ("0000000000000000", nearly))) == []
    [problem] = reproduction_problems(_history(tmp_path, ("0000000000000000", far)))
    assert problem.startswith("epoch 1: validation loss") and "an unrecorded CPU" in problem
    [problem] = reproduction_problems(_history(tmp_path, ("0000000000000000", nearly), ("1111111111111111", 0.1)))
    assert problem == "epoch 2: no platform recorded its validation loss"
    # The shipped run's (or any recorded platform's) very bits reproduce it, whatever the loss computes to here.
    assert reproduction_problems(_history(tmp_path, ("fedcba9876543210", far), ("fedcba9876543211", 0.1))) == []
    assert reproduction_problems(_history(tmp_path, ("0123456789abcdef", far))) == []


def test_the_platform_names_the_cpu_its_kernels_and_torch() -> None:
    import torch

    assert platform().endswith(f", {torch.backends.cpu.get_cpu_capability()}, torch {torch.__version__}")
