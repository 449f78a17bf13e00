"""The default backbone ships with mixenv: the file is its record's whole run of the default recipe on the default
corpus, a rerun is checked against the record (bit for bit on the recorded platform, by the loss elsewhere), and the
recipe's first steps reproduce the record from CI's empty data cache."""

from __future__ import annotations

import copy
import dataclasses
import json
from pathlib import Path

import pytest
import torch

from mixenv import artifacts
from mixenv.backbone import Backbone, BackboneCheckpoint, BackboneConfig, load_backbone
from mixenv.features import FeatureConfig
from mixenv.fingerprint import weights_digest
from mixenv.pretrain import DEFAULT_PRETRAIN, default
from mixenv.pretrain import __main__ as pretrain_cli

from conftest import SR


@pytest.fixture(scope="module")
def shipped() -> BackboneCheckpoint:
    return load_backbone(default.shipped_path())


def test_the_shipped_backbone_is_the_records_whole_run_of_the_default_recipe(shipped: BackboneCheckpoint) -> None:
    record = default.shipped_record()
    assert record["recipe"] == json.loads(json.dumps(dataclasses.asdict(DEFAULT_PRETRAIN)))
    assert record["corpus"] == shipped.training["corpus"] == artifacts.DEFAULT_CORPUS.folder_name()
    assert record["steps"] == list(default.CHECKPOINTS) and record["threads"] == default.THREADS
    assert shipped.training["steps"] == DEFAULT_PRETRAIN.steps == default.CHECKPOINTS[-1]
    assert weights_digest(shipped.module) == record["weights"][-1]
    assert shipped.training["loss_curve"][-1] == record["loss"][-1]
    assert default.reproduction_problems(shipped) == []
    assert artifacts.backbone().training == shipped.training  # the default, with no path given


def _changed(checkpoint: BackboneCheckpoint, *, scale_loss: float = 1.0, **training: object) -> BackboneCheckpoint:
    """A copy with its first weight nudged, its last loss scaled and its training metadata changed."""
    other = copy.deepcopy(checkpoint)
    with torch.no_grad():
        next(other.module.parameters()).view(-1)[0] += 1e-3
    curve = [*other.training["loss_curve"][:-1], other.training["loss_curve"][-1] * scale_loss]
    other.training.update({"loss_curve": curve, **training})
    return other


def test_a_rerun_is_held_to_the_bits_on_the_recorded_platform_and_to_the_loss_elsewhere(
    shipped: BackboneCheckpoint, monkeypatch: pytest.MonkeyPatch
) -> None:
    record = default.shipped_record()
    monkeypatch.setattr("mixenv.fingerprint.platform", lambda: record["platform"])
    assert default.reproduction_problems(_changed(shipped)) == [
        f"after 500 steps: weights differ from the record's on {record['platform']}"
    ]
    monkeypatch.setattr("mixenv.fingerprint.platform", lambda: "an unrecorded CPU")
    assert default.reproduction_problems(_changed(shipped, scale_loss=1 + default.LOSS_RTOL / 2)) == []
    [problem] = default.reproduction_problems(_changed(shipped, scale_loss=1 + 2 * default.LOSS_RTOL))
    assert problem.startswith("after 500 steps: loss ") and "an unrecorded CPU has no recorded" in problem


def test_runs_the_record_does_not_hold_are_refused(shipped: BackboneCheckpoint) -> None:
    with pytest.raises(ValueError, match=r"the record has runs of \[50, 500\] steps, not 123"):
        default.reproduction_problems(_changed(shipped, steps=123))
    with pytest.raises(ValueError, match="this run is not"):
        default.reproduction_problems(_changed(shipped, corpus="another-corpus"))
    shorter = {**shipped.training["config"], "steps": 50}  # a whole run of 50 steps decays its rate sooner
    with pytest.raises(ValueError, match="this run is not"):
        default.reproduction_problems(_changed(shipped, steps=50, config=shorter))


def test_a_missing_shipped_backbone_says_how_to_make_it(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(default, "SHIPPED", tmp_path / "default_backbone.pt")
    with pytest.raises(FileNotFoundError, match=r"missing from this installation; .*python -m mixenv\.pretrain"):
        artifacts.backbone()


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--update", "--steps", "3"], "--update ships a whole run"),
        (["--update", "--stop-after", "50"], "--update ships a whole run"),
        (["--update", "--corpus", "."], "--update ships a whole run"),
        (["--stop-after", "0"], "--stop-after must be at least 1 step, got 0"),
        (["--steps", "0"], "steps must be at least 1, got 0"),
    ],
)
def test_the_command_refuses_what_it_cannot_do_before_any_work(
    argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exit_:
        pretrain_cli.main(argv)
    assert exit_.value.code == 2 and message in capsys.readouterr().err


def _run_of(steps: int, seed: int) -> BackboneCheckpoint:
    """A small untrained backbone standing for a run of the default recipe of ``steps`` steps."""
    torch.manual_seed(seed)
    training = {
        "steps": steps,
        "corpus": "a-corpus",
        "config": dataclasses.asdict(DEFAULT_PRETRAIN),
        "loss_curve": [2.0, 1.0 / steps],
    }
    return BackboneCheckpoint(
        Backbone(BackboneConfig(widths=(4, 8, 8, 16), embedding_dim=16)), FeatureConfig(), SR, training
    )


def test_update_ships_the_whole_run_and_records_both(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(default, "SHIPPED", tmp_path / "default_backbone.pt")
    monkeypatch.setattr(default, "RECORD", tmp_path / "default_backbone.json")
    start, whole = _run_of(50, seed=0), _run_of(500, seed=1)
    with pytest.raises(ValueError, match=r"update needs runs of \(50, 500\) steps"):
        default.update(start, whole)  # the wrong way round
    default.update(whole, start)
    record = default.shipped_record()
    assert record["steps"] == [50, 500] and record["corpus"] == "a-corpus" and record["loss"] == [0.02, 0.002]
    assert record["weights"] == [weights_digest(start.module), weights_digest(whole.module)]
    assert weights_digest(load_backbone(default.shipped_path()).module) == record["weights"][1]
    assert default.reproduction_problems(start) == default.reproduction_problems(whole) == []


@pytest.mark.slow
def test_the_recipes_first_steps_reproduce_the_record(first_use, tmp_path: Path, capsys) -> None:
    """The default recipe's first 50 steps on the default corpus that ``first_use`` built (in CI from nothing), as
    ``python -m mixenv.pretrain --stop-after 50`` runs them (about a minute on 2 cores): bit for bit on the recorded
    platform, the loss to the tolerance elsewhere."""
    out = tmp_path / "first50.pt"
    assert pretrain_cli.main(["--stop-after", str(default.CHECKPOINTS[0]), "--out", str(out)]) == 0
    assert "reproduces the shipped default backbone's record after 50 steps" in capsys.readouterr().out
    assert load_backbone(out).training["steps"] == default.CHECKPOINTS[0]
