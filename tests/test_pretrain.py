"""Mix-style pretraining of the backbone: it learns, it is deterministic, its checkpoints round-trip, a run's first
steps are the whole run's, and its command line writes and reports a checkpoint (the shipped default backbone and
its record: test_default_backbone.py)."""

from __future__ import annotations

import copy
from collections.abc import Iterator
from dataclasses import asdict, replace
from pathlib import Path

import numpy as np
import pytest
import torch

from mixenv.backbone import (
    AudioEmbedder,
    BackboneCheckpoint,
    BackboneConfig,
    MaxPool,
    inference_copy,
    load_backbone,
    save_backbone,
)
from mixenv.data.corpus import corpus_songs
from mixenv.features import FeatureConfig
from mixenv.pretrain import PretrainConfig, pretrain_backbone
from mixenv.pretrain import __main__ as pretrain_cli

TINY = PretrainConfig(steps=16, batch_songs=5, batch_mixes=3, mixes_per_song=4, crop_seconds=1.0, render_workers=1)
SMALL_BACKBONE = BackboneConfig(widths=(8, 16, 24, 32), embedding_dim=32)


@pytest.fixture(autouse=True)
def one_thread() -> Iterator[None]:
    """Bit-identical training needs a fixed number of torch threads (and one is fastest on tiny inputs)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def _pretrain(corpus: Path, config: PretrainConfig = TINY, **kwargs: object) -> BackboneCheckpoint:
    """Pretrain a small backbone on the tiny corpus's train split (its test song serves as validation)."""
    return pretrain_backbone(
        corpus_songs(corpus, "train"),
        config,
        val_songs=corpus_songs(corpus, "test"),
        backbone_config=SMALL_BACKBONE,
        progress=False,
        **kwargs,
    )


@pytest.fixture(scope="module")
def trained(tiny_corpus: Path) -> BackboneCheckpoint:
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        return _pretrain(tiny_corpus)
    finally:
        torch.set_num_threads(threads)


def _weights_equal(a: BackboneCheckpoint, b: BackboneCheckpoint) -> bool:
    sa, sb = a.module.state_dict(), b.module.state_dict()
    return sa.keys() == sb.keys() and all(torch.equal(sa[k], sb[k]) for k in sa)


def test_training_lowers_the_contrastive_loss(trained: BackboneCheckpoint) -> None:
    curve = trained.training["loss_curve"]
    assert len(curve) == TINY.steps  # one point per step below 20 steps
    assert np.mean(curve[-4:]) < 0.7 * np.mean(curve[:4])


def test_same_seed_gives_bit_identical_weights_and_checkpoint_files(
    tiny_corpus: Path, trained: BackboneCheckpoint, tmp_path: Path
) -> None:
    again = _pretrain(tiny_corpus)
    assert _weights_equal(again, trained)
    # The file's bytes too, wherever it is written: the default good-mix model is found by a digest of them.
    first, second = save_backbone(tmp_path / "a.pt", trained), save_backbone(tmp_path / "b" / "backbone.pt", again)
    assert first.read_bytes() == second.read_bytes()


def test_another_seed_gives_other_weights(tiny_corpus: Path, trained: BackboneCheckpoint) -> None:
    assert not _weights_equal(_pretrain(tiny_corpus, replace(TINY, steps=2, seed=1)), trained)


def test_pretraining_leaves_global_torch_rng_alone(tiny_corpus: Path) -> None:
    state = torch.random.get_rng_state()
    _pretrain(tiny_corpus, replace(TINY, steps=1))
    assert torch.equal(torch.random.get_rng_state(), state)


def test_saved_checkpoint_loads_back_with_identical_embeddings(trained: BackboneCheckpoint, tmp_path: Path) -> None:
    path = save_backbone(tmp_path / "b.pt", trained)
    loaded = load_backbone(path)
    audio = np.random.default_rng(0).uniform(-0.5, 0.5, (2, trained.sample_rate)).astype(np.float32)
    embedding, frames = AudioEmbedder(trained, trained.sample_rate)(audio)
    loaded_embedding, loaded_frames = AudioEmbedder(loaded, loaded.sample_rate)(audio)
    np.testing.assert_array_equal(loaded_embedding, embedding)
    np.testing.assert_array_equal(loaded_frames, frames)
    assert loaded.training == trained.training


def test_training_metadata_records_provenance(trained: BackboneCheckpoint, tiny_corpus: Path) -> None:
    t = trained.training
    assert (t["steps"], t["seed"], t["corpus"], t["train_songs"], t["val_songs"]) == (16, 0, tiny_corpus.name, 5, 1)
    assert t["config"] == asdict(TINY)


def test_training_metadata_records_the_validation_numbers(trained: BackboneCheckpoint) -> None:
    v = trained.training["validation"]
    # one val song x 4 mixes x 2 crops; chance is picking the partner among the 7 other crops
    assert (v["songs"], v["crops"], v["probe_train_mixes"]) == (1, 8, 5 * 4)
    assert v["retrieval_chance"] == pytest.approx(1 / 7, abs=1e-4)
    for key in ("retrieval_top1", "retrieval_top1_untrained"):
        assert v[key] * 8 == pytest.approx(round(v[key] * 8), abs=1e-3)  # a whole number of the 8 crops
        assert 0.0 <= v[key] <= 1.0
    assert v["probe_r2"] <= 1.0 and v["probe_r2_untrained"] <= 1.0
    assert v["probe_r2"] != v["probe_r2_untrained"]


def test_a_runs_first_steps_are_those_of_the_whole_run(tiny_corpus: Path, trained: BackboneCheckpoint) -> None:
    start = _pretrain(tiny_corpus, stop_after=4)
    assert start.training["steps"] == 4 and start.training["config"] == asdict(TINY)
    assert start.training["loss_curve"] == trained.training["loss_curve"][:4]  # one point per step
    shorter = _pretrain(tiny_corpus, replace(TINY, steps=4))  # a whole run of 4 steps decays its rate sooner
    assert shorter.training["loss_curve"][:3] == start.training["loss_curve"][:3]
    assert shorter.training["loss_curve"][3] != start.training["loss_curve"][3]
    with pytest.raises(ValueError, match="stop_after must be at least 1 step, got 0"):
        _pretrain(tiny_corpus, stop_after=0)


def test_no_val_songs_means_no_validation(tiny_corpus: Path) -> None:
    checkpoint = pretrain_backbone(
        corpus_songs(tiny_corpus, "train"), replace(TINY, steps=1), backbone_config=SMALL_BACKBONE, progress=False
    )
    assert "validation" not in checkpoint.training


def test_songs_shorter_than_two_crops_are_refused(tiny_corpus: Path) -> None:
    with pytest.raises(ValueError, match=r"fewer than two crops of 87.*shorter crop_seconds"):
        _pretrain(tiny_corpus, replace(TINY, crop_seconds=2.0))


def test_mismatched_mel_bands_are_refused(tiny_corpus: Path) -> None:
    with pytest.raises(ValueError, match="backbone expects n_mels=64 but the features give 32"):
        _pretrain(tiny_corpus, features=FeatureConfig(n_mels=32))


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"steps": 0}, "steps must be at least 1"),
        ({"batch_mixes": 7}, r"batch_mixes must be within \[1, mixes_per_song=6\], got 7"),
        ({"mixes_per_song": 1}, "mixes_per_song=1 must hold the ground truth and random_mixes=1"),
        ({"perturb_sigma": (0.5, 0.1)}, r"perturb_sigma must be \(low, high\)"),
    ],
)
def test_bad_configs_are_refused(changes: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        PretrainConfig(**changes)


def test_cli_writes_the_checkpoint_and_reports(
    tiny_corpus: Path, tmp_path: Path, capsys: pytest.CaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(pretrain_cli, "DEFAULT_PRETRAIN", TINY)  # 1-s crops fit the 3-s songs
    out = tmp_path / "cli.pt"
    assert pretrain_cli.main(["--steps", "2", "--seed", "3", "--corpus", str(tiny_corpus), "--out", str(out)]) == 0
    assert load_backbone(out).training["seed"] == 3
    assert f"wrote {out}: 2 steps" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("shape", "kernel"), [((2, 5, 32, 91), (2, 2)), ((1, 3, 7, 9), (2, 1)), ((1, 3, 7, 9), (3, 2))]
)
def test_backbone_pool_matches_torch_max_pool_in_values_and_gradients(
    shape: tuple[int, ...], kernel: tuple[int, int]
) -> None:
    x = torch.randn(*shape, generator=torch.Generator().manual_seed(0), requires_grad=True)
    expected = torch.nn.MaxPool2d(kernel)(x)
    (expected_grad,) = torch.autograd.grad(expected.square().sum(), x)
    pooled = MaxPool(kernel)(x)
    (grad,) = torch.autograd.grad(pooled.square().sum(), x)
    assert pooled.shape == expected.shape
    assert torch.equal(pooled, expected) and torch.equal(grad, expected_grad)


def test_inference_copy_computes_the_same_embeddings(trained: BackboneCheckpoint) -> None:
    backbone = copy.deepcopy(trained.module).eval()
    with torch.no_grad():  # give the batch norms non-trivial statistics, as training does
        for stage in backbone.stages:
            stage[1].running_mean.uniform_(-0.5, 0.5)
            stage[1].running_var.uniform_(0.5, 2.0)
    folded = inference_copy(backbone)
    x = torch.rand(3, 2, 64, 40, generator=torch.Generator().manual_seed(0)) * 2 - 1
    with torch.inference_mode():
        expected, got = backbone(x), folded(x.contiguous(memory_format=torch.channels_last))
    assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in folded.modules())
    torch.testing.assert_close(got.embedding, expected.embedding, rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(got.frames, expected.frames, rtol=1e-4, atol=1e-5)
    assert any(isinstance(m, torch.nn.BatchNorm2d) for m in backbone.modules())  # the original is untouched
