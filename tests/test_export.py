"""ONNX export of the shipped default model (supervised.export), int8 and pruned variants, and the onnx runtime of
the predictor (supervised.onnx_predictor), on tiny-corpus clips. onnx and onnxruntime are dev dependencies: a
missing one fails these tests at import, it does not skip them."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import onnx
import pytest
import torch

from mixenv.data import Multitrack
from supervised import export
from supervised.checkpoint import load_model
from supervised.data import Remixing
from supervised.default import default_model_path
from supervised.inputs import InputError
from supervised.onnx_predictor import OnnxMetadata, OnnxPredictor, read_model
from supervised.predictors import ModelPredictor
from supervised.runtimes import load_predictor
from supervised.train import load_training_data


@pytest.fixture(scope="module")
def clips(tiny_corpus: Path) -> list[Multitrack]:
    """Held-out clips of the tiny corpus."""
    return export.held_out_clips(tiny_corpus)


@pytest.fixture(scope="module")
def fp32(tiny_corpus: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The default model exported to fp32 ONNX, checked against torch on the tiny corpus's val clips."""
    return export.export_onnx(default_model_path(), tmp_path_factory.mktemp("onnx") / "model.onnx", corpus=tiny_corpus)


def test_fp32_agrees_with_torch(fp32: Path, clips: list[Multitrack]) -> None:
    differences = export.check_onnx(fp32, default_model_path(), clips, export.FP32_TOLERANCE)
    assert differences.shape == (len(clips), 41)
    assert np.median(differences.max(axis=1)) <= export.FP32_TOLERANCE.typical
    settings = OnnxPredictor(fp32).predict(clips)
    assert settings.dtype == np.float32 and np.abs(settings).max() <= 1.0


def test_check_fails_past_tolerance(fp32: Path, clips: list[Multitrack]) -> None:
    impossible = export.Tolerance(typical=0.0, worst=0.0)
    with pytest.raises(export.ExportCheckError, match=r"model\.onnx's settings differ from torch's by up to"):
        export.check_onnx(fp32, default_model_path(), clips, impossible)


def test_metadata_round_trip(fp32: Path) -> None:
    loaded = load_model(default_model_path())
    _, metadata = read_model(fp32)
    assert metadata == OnnxMetadata(
        roles=("vocals", "drums", "bass", "other"),
        features=loaded.features,
        sample_rate=loaded.sample_rate,
        reference=True,
        name="cnn",
        variant="fp32",
        source=str(default_model_path()),
    )
    predictor = OnnxPredictor(fp32)
    assert predictor.space == loaded.module.space and predictor.features == loaded.features


@pytest.mark.parametrize("mode", export.INT8_MODES)
def test_int8_close_to_fp32(mode: str, fp32: Path, clips: list[Multitrack], tiny_corpus: Path, tmp_path: Path) -> None:
    quantised = export.quantize_onnx(fp32, tmp_path / f"{mode}.onnx", mode, corpus=tiny_corpus)
    assert read_model(quantised)[1].variant == f"fp32-int8-{mode}"
    assert quantised.stat().st_size < fp32.stat().st_size / 3
    settings = OnnxPredictor(quantised).predict(clips)
    assert np.abs(settings).max() <= 1.0
    export.check_onnx(quantised, default_model_path(), clips, export.INT8_TOLERANCE)


def test_int8_keeps_reference_matching_and_the_output_layer_in_float(
    fp32: Path, tiny_corpus: Path, tmp_path: Path
) -> None:
    model = onnx.load(fp32)
    kept = export.float_nodes(model)
    assert all(name.startswith(export.FLOAT_SCOPE) for name in kept[:-1]) and len(kept) > 1
    output_layer = kept[-1]
    consumers: dict[str, list[onnx.NodeProto]] = {}
    for node in model.graph.node:
        for name in node.input:
            consumers.setdefault(name, []).append(node)
    (node,) = [n for n in model.graph.node if n.name == output_layer]
    ops = []
    while node.output[0] != model.graph.output[0].name:  # the settings come from it through element-wise ops only
        (node,) = consumers[node.output[0]]
        ops.append(node.op_type)
    assert ops[-1] == "Tanh" and not set(ops) & set(export.QUANTISED_OPS)
    quantised = onnx.load(export.quantize_onnx(fp32, tmp_path / "static.onnx", "static", corpus=tiny_corpus))
    producers = {out: n for n in quantised.graph.node for out in n.output}
    (layer,) = [n for n in quantised.graph.node if n.name == output_layer]
    assert layer.op_type in export.QUANTISED_OPS  # left as it was, its weight read as stored, not dequantised
    assert all(producers[name].op_type != "DequantizeLinear" for name in layer.input if name in producers)
    assert sum(n.op_type == "DequantizeLinear" for n in quantised.graph.node) > 10  # while the rest is int8


def test_unstructured_pruning(clips: list[Multitrack], tmp_path: Path) -> None:
    pruned = export.prune_model(default_model_path(), tmp_path / "pruned.pt", 0.3)
    loaded = load_model(pruned)
    assert loaded.training["pruning"] == {
        "amount": 0.3,
        "structured": False,
        "from": str(default_model_path()),
        "fine_tuned": False,
    }
    for layer in loaded.module.modules():
        if isinstance(layer, torch.nn.Conv2d | torch.nn.Linear):
            zeros = float((layer.weight == 0).float().mean())
            assert zeros == pytest.approx(0.3, abs=0.5 / layer.weight.numel() + 1e-6)
    onnx_path = export.export_onnx(pruned, tmp_path / "pruned.onnx", check=False)
    settings = OnnxPredictor(onnx_path).predict(clips)
    assert np.abs(settings).max() <= 1.0
    np.testing.assert_allclose(settings, ModelPredictor(pruned).predict(clips), atol=export.FP32_TOLERANCE.worst)


@pytest.mark.parametrize("distil", [False, True])
def test_fine_tuning_keeps_pruned_zeros(distil: bool, tiny_corpus: Path, tmp_path: Path) -> None:
    pruned = export.prune_model(default_model_path(), tmp_path / "pruned.pt", 0.5)
    loaded = load_model(pruned)
    data = load_training_data(
        tiny_corpus, loaded.module.space, loaded.features, remixing=Remixing(1, excerpt_seconds=3.0), progress=False
    )
    teacher = default_model_path() if distil else None
    tuned = export.fine_tune(pruned, tmp_path / "tuned.pt", epochs=1, steps_per_epoch=2, data=data, teacher=teacher)
    after = load_model(tuned)
    assert after.training["pruning"]["fine_tuned"] and after.training["fine_tuning"]["steps"] == 2
    assert after.training["fine_tuning"]["teacher"] == (str(teacher) if distil else None)
    before_weights, after_weights = loaded.module.state_dict(), after.module.state_dict()
    assert not torch.equal(before_weights["mlp.0.weight"], after_weights["mlp.0.weight"])
    for name, weight in before_weights.items():
        if name.endswith("weight") and weight.ndim > 1:
            assert torch.equal(after_weights[name][weight == 0], weight[weight == 0]), name


def test_fine_tuning_is_the_same_for_the_same_seed_whatever_ran_before(tiny_corpus: Path, tmp_path: Path) -> None:
    pruned = export.prune_model(default_model_path(), tmp_path / "narrow.pt", 0.5, structured=True)
    loaded = load_model(pruned)
    data = load_training_data(
        tiny_corpus, loaded.module.space, loaded.features, remixing=Remixing(1, excerpt_seconds=3.0), progress=False
    )
    weights = []
    for name, seed in (("a", 0), ("b", 0), ("c", 1)):
        torch.rand(3)  # moves torch's global generator, as other work in the process would
        kwargs = {"epochs": 1, "steps_per_epoch": 2, "data": data, "teacher": default_model_path(), "seed": seed}
        weights.append(load_model(export.fine_tune(pruned, tmp_path / f"{name}.pt", **kwargs)).module.state_dict())
    assert all(torch.equal(weights[0][k], weights[1][k]) for k in weights[0])
    assert not all(torch.equal(weights[0][k], weights[2][k]) for k in weights[0])


def test_structured_pruning_removes_channels(clips: list[Multitrack], tmp_path: Path) -> None:
    pruned = export.prune_model(default_model_path(), tmp_path / "narrow.pt", 0.3, structured=True)
    module = load_model(pruned).module
    assert module.config.conv.widths == (17, 34, 67, 90)  # 70% of (24, 48, 96, 128), rounded
    original = load_model(default_model_path()).module
    assert sum(p.numel() for p in module.parameters()) < sum(p.numel() for p in original.parameters())
    settings = OnnxPredictor(export.export_onnx(pruned, tmp_path / "narrow.onnx", check=False)).predict(clips)
    assert settings.shape == (len(clips), 41) and np.abs(settings).max() <= 1.0


def test_load_predictor_runtimes_agree(fp32: Path, clips: list[Multitrack]) -> None:
    on_torch = load_predictor(default_model_path(), "torch", roles=("vocals", "drums", "bass", "other"))
    on_onnx = load_predictor(fp32, "onnx", roles=("vocals", "drums", "bass", "other"))
    assert on_onnx.space == on_torch.space
    difference = np.abs(on_onnx.predict(clips) - on_torch.predict(clips))
    assert np.median(difference.max(axis=1)) <= export.FP32_TOLERANCE.typical
    assert difference.max() <= export.FP32_TOLERANCE.worst
    with pytest.raises(InputError, match=r"mixes the roles \('vocals', 'drums', 'bass', 'other'\)"):
        load_predictor(fp32, "onnx", roles=("vocals", "drums"))
    with pytest.raises(ValueError, match="runtime must be one of"):
        load_predictor(fp32, "tflite")
    loaded = load_model(default_model_path())
    np.testing.assert_array_equal(load_predictor(loaded, "torch").predict(clips), on_torch.predict(clips))
    with pytest.raises(ValueError, match=r"runs an exported \.onnx file, not a loaded torch model"):
        load_predictor(loaded, "onnx")


def test_reference_free_export(clips: list[Multitrack], fp32: Path, tmp_path: Path) -> None:
    free = export.export_onnx(default_model_path(), tmp_path / "free.onnx", reference=False, check=False)
    assert not read_model(free)[1].reference
    without = [dataclasses.replace(clip, reference=None) for clip in clips]
    expected = ModelPredictor(default_model_path()).predict(without)
    np.testing.assert_allclose(OnnxPredictor(free).predict(without), expected, atol=1e-4)
    with pytest.raises(InputError, match="exported to read a reference"):
        OnnxPredictor(fp32).predict(without)


def test_missing_and_corrupt_files_are_named(fp32: Path, tmp_path: Path) -> None:
    missing = tmp_path / "nowhere.onnx"
    with pytest.raises(FileNotFoundError, match=r"no ONNX model at .*nowhere\.onnx; export one with"):
        OnnxPredictor(missing)
    corrupt = tmp_path / "corrupt.onnx"
    corrupt.write_bytes(fp32.read_bytes()[: fp32.stat().st_size // 2])
    with pytest.raises(ValueError, match=r"corrupt\.onnx is not a readable ONNX model .*export it again"):
        load_predictor(corrupt, "onnx")
    foreign = tmp_path / "foreign.onnx"
    model = onnx.load(fp32)
    del model.metadata_props[:]
    onnx.save(model, foreign)
    with pytest.raises(ValueError, match=r"foreign\.onnx is an ONNX model but not a mixenv predictor export"):
        OnnxPredictor(foreign)


def test_command_line_distils_on_more_data(
    tiny_corpus: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    argv = ["--model", str(default_model_path()), "--out", str(tmp_path / "small.onnx"), "--corpus", str(tiny_corpus)]
    argv += ["--prune", "0.5", "--structured", "--fine-tune", "1", "--more-data", str(tmp_path / "missing")]
    assert export.main(argv) == 2  # the songs are looked for before any training
    assert "missing does not exist" in capsys.readouterr().err
    calls: list[dict] = []
    monkeypatch.setattr(export, "fine_tune", lambda model, out, **kwargs: calls.append(kwargs) or Path(model))
    assert export.main([*argv, "--more-data", "classics"]) == 0
    assert calls[0]["more"] == [str(tmp_path / "missing"), "classics"]
    assert calls[0]["teacher"] == default_model_path()


def test_command_line(tiny_corpus: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "small.onnx"
    argv = ["--model", str(default_model_path()), "--out", str(out), "--prune", "0.3", "--structured"]
    assert export.main([*argv, "--int8", "static", "--check", "--corpus", str(tiny_corpus)]) == 0
    assert read_model(out)[1].variant == "fp32-int8-static" and out.with_suffix(".pt").is_file()
    assert "checked" in capsys.readouterr().out
    assert export.main(["--model", str(tmp_path / "none"), "--out", str(tmp_path / "x.onnx")]) == 2
    assert "no supervised model at" in capsys.readouterr().err
    assert export.main(["--model", str(default_model_path()), "--out", str(tmp_path / "x.pt")]) == 2
    assert "--out must name a .onnx file" in capsys.readouterr().err
