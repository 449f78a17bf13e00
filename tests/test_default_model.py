"""The default mixing model that ``mixenv mix`` and ``make run`` use: shipped, loadable, the benchmarked recipe, and
reproduced exactly by its one command."""

from __future__ import annotations

from pathlib import Path

import pytest

from mixenv.params import ROLES, ParamSpace
from supervised.args import TrainArgs
from supervised.checkpoint import load_model
from supervised.default import RECIPE, SHIPPED, default_model_path, differing_weights, reproduce


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


@pytest.mark.slow
def test_the_one_command_reproduces_the_shipped_model_exactly(first_use, tmp_path: Path) -> None:
    """Trains the recipe again (about 4 minutes on 2 cores) on the default corpus and backbone that ``first_use``
    built: in CI both are built from nothing, so this checks the whole chain from an empty cache."""
    trained = reproduce(tmp_path / "default")
    assert differing_weights(trained, SHIPPED) == []
