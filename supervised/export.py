"""``python -m supervised.export``: a trained model as ONNX for edge runtimes, int8-quantised or pruned, and checked.

The exported network is the model's own: log-mel ``stems`` ``(batch, roles, mels, frames)``, ``presence``
``(batch, roles)`` and (unless ``--no-reference``) ``reference`` ``(batch, 2, mels, frames)`` in, normalised
``settings`` ``(batch, params)`` out, batch and frames dynamic, opset :data:`OPSET`; the inputs are made as for
torch (:func:`supervised.predictors.model_batches`) and :class:`supervised.onnx_predictor.OnnxPredictor` runs it.
It is traced by torch's TorchScript exporter (``dynamo=False``: the dynamo exporter needs onnxscript and stops on the
models' data-dependent input checks). Two operators of reference matching have no ONNX counterpart in torch's
exporter and are written here: ``median`` as a ``TopK`` of the smallest half (the same value), ``linalg.solve`` as
onnxruntime's ``com.microsoft::Inverse`` then ``MatMul`` (a small ridge system per band, 2 x roles square; the
file therefore needs onnxruntime, not just any ONNX runtime). The backbone's strided-slice max pooling is exported
as ``MaxPool`` (the same values), which keeps the frame count dynamic.

* int8 (``--int8``): onnxruntime's dynamic quantisation (weights int8, activations quantised on the fly) or static
  (QDQ, activations' ranges calibrated on train-split clips), of the convolutions and matrix products; the
  reference-matching solve stays float32 (its least squares would not survive 8 bits), and so does the output
  layer (:func:`float_nodes`).
* pruning (``--prune AMOUNT``): L1 magnitude pruning of every conv and linear weight (``AMOUNT`` of each layer's
  weights set to zero), or ``--structured``: the backbone convolutions' output channels of smallest L2 norm
  removed, the convolutions rebuilt smaller (each removed channel's constant output folded into the next layer,
  exact away from the zero-padded borders). ``--fine-tune EPOCHS`` then trains it further (:func:`fine_tune`),
  distilled from the original (on ``--more-data`` songs too): learning its settings rather than the ground truth
  again, which had cost 9% of MRSTFT (as it did the unpruned model). With 10 epochs and the classics set the
  50%-channel-pruned static-int8 model mixed the test split 0.8% better than the original and 1.6% worse on unseen
  songs of the generator (``experiments.bench_export``, 2026-12-04). The pruned (or fine-tuned) model is written as
  a checkpoint beside the ``.onnx`` (``OUT.pt``).
* ``--check``: the ONNX outputs against torch's on held-out clips (val, then test songs); past :data:`FP32_TOLERANCE`
  (fp32) or :data:`INT8_TOLERANCE` (int8) it fails naming the difference.

    python -m supervised.export --model runs/default --out model.onnx --check
    python -m supervised.export --model runs/default --out model-int8.onnx --int8 static --corpus CORPUS
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import dataclasses
import math
import sys
import tempfile
import warnings
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import onnx
import torch
from onnxruntime.quantization import (
    CalibrationDataReader,
    QuantFormat,
    QuantType,
    quantize_dynamic,
    quantize_static,
)
from torch import nn
from torch.nn.utils import prune
from torch.onnx import symbolic_helper

from mixenv import artifacts
from mixenv.backbone import Backbone, MaxPool
from mixenv.clip import ClipError, song_clips
from mixenv.data import DatasetError, Multitrack
from mixenv.data.atomic import atomic_path
from mixenv.data.corpus import corpus_songs
from supervised.augment import AugmentConfig, Augmenter
from supervised.checkpoint import LoadedModel, load_model, save_model
from supervised.data import check_crop, random_batch
from supervised.default import RECIPE
from supervised.inputs import InputError
from supervised.models import MixModel, build_model
from supervised.onnx_predictor import (
    INPUTS_WITH_REFERENCE,
    INPUTS_WITHOUT_REFERENCE,
    OUTPUT,
    OnnxMetadata,
    OnnxPredictor,
    input_feed,
    read_model,
    write_metadata,
)
from supervised.predictors import ModelPredictor, model_batches
from supervised.train import GRAD_CLIP, TrainingData, load_training_data

OPSET = 20
"""ONNX opset of the exported graph (onnxruntime 1.17 and later run it): 20 for its ``Gelu`` operator, which int8
keeps whole between the quantised convolutions (at 17 GELU is exported as ``Erf`` arithmetic, which onnxruntime
fuses in fp32 but not between quantise/dequantise steps: the static int8 model ran in 4.9 ms instead of 3.6)."""


@dataclass(frozen=True)
class Tolerance:
    """How far an exported model's settings (normalised, range [-1, 1]) may be from torch's on the check clips.

    Attributes:
        typical: Bound on the median clip's largest difference.
        worst: Bound on every difference.
    """

    typical: float
    worst: float


FP32_TOLERANCE = Tolerance(typical=1e-4, worst=0.05)
"""fp32 agrees with torch to float32 round-off (median clip 3e-6 on the default model), except on clips where
reference matching's loud/quiet split at a stem's median frame energy falls the other way after onnxruntime's own
sums: a frame within round-off of the median flips and refits that stem's gains (seen on 6 of 48 held-out clips,
up to 0.019); the model does the same in torch at another thread count."""
INT8_TOLERANCE = Tolerance(typical=0.05, worst=0.25)
"""int8 against torch fp32 (default model, 48 held-out clips: median clip 0.018 dynamic, 0.0095 static; worst
0.035 and 0.022; static with the output layer quantised too: 0.012 and 0.070)."""
INT8_MODES: tuple[str, ...] = ("dynamic", "static")
QUANTISED_OPS: list[str] = ["Conv", "MatMul", "Gemm"]
"""The operators int8 covers: nearly all the arithmetic; element-wise ones would add quantise steps for little."""
FLOAT_SCOPE = "/match/"
"""Nodes under this name prefix (reference matching's least squares) stay float32."""


def float_nodes(model: onnx.ModelProto) -> list[str]:
    """The nodes int8 leaves in float32: reference matching's (:data:`FLOAT_SCOPE`) and the output layer (the
    graph's last matrix product, which writes the settings before their tanh).

    The output layer holds 3% of the default model's weights and nearly all of its int8 error: quantised with the
    rest, static int8 mixed 1.8% worse than torch fp32 on the validation split (MRSTFT) and 1.5% worse on 48 songs
    of the corpus generator that no model saw; kept in float32, +0.3% and +0.1% (2026-12-04).
    """
    names = [node.name for node in model.graph.node if node.name.startswith(FLOAT_SCOPE)]
    products = [node.name for node in model.graph.node if node.op_type in QUANTISED_OPS and node.name not in names]
    return names + products[-1:]


FINE_TUNE_EPOCHS = 10
"""Distillation's length: 10 epochs (400 steps) kept the 50%-channel-pruned static-int8 model within 1.6%, 0.7% and
1.4% of torch fp32's MRSTFT on the validation split (three seeds, with :data:`DISTIL_MORE`), where 5 epochs cost
2.3-3.9% (three runs, with and without it; 2026-12-04)."""
DISTIL_MORE: tuple[str, ...] = ("classics",)
"""More music for distillation (:data:`mixenv.artifacts.TRAINING_SETS`), whose songs need no ground truth here:
the original model labels every crop."""
FINE_TUNE_LR = 3e-4
"""A third of the recipe's peak rate: the weights are already trained."""
CHECK_CLIPS = 8
CALIBRATION_CLIPS = 32
CLIP_SECONDS = 2.0
"""Length of the check and calibration clips (songs of the tiny test corpus are 3 s)."""


class ExportCheckError(RuntimeError):
    """An exported model whose outputs differ from torch's past the tolerance."""


def export_onnx(
    model_path: str | Path,
    out_path: str | Path,
    *,
    opset: int = OPSET,
    reference: bool = True,
    check: bool = True,
    corpus: str | Path | None = None,
) -> Path:
    """Write a checkpoint's network as an fp32 ONNX file with its metadata, atomically.

    Args:
        model_path: A checkpoint or run folder (:func:`supervised.checkpoint.load_model`).
        out_path: The ``.onnx`` file to write.
        opset: ONNX opset (default :data:`OPSET`).
        reference: Export the graph that reads a reference (``False``: the reference-free one).
        check: Compare with torch on ``corpus``'s held-out clips (:func:`check_onnx`, :data:`FP32_TOLERANCE`).
        corpus: A synthetic corpus folder (default: the default corpus).

    Raises:
        ExportCheckError: If ``check`` finds a difference past the tolerance (the file is not written).
    """
    loaded = load_model(model_path)
    metadata = OnnxMetadata(
        roles=loaded.module.space.roles,
        features=loaded.features,
        sample_rate=loaded.sample_rate,
        reference=reference,
        name=loaded.module.config.name,
        variant="fp32",
        source=str(model_path),
    )
    model = _traceable(loaded.module, reference)
    inputs = _example_inputs(loaded)
    names = list(INPUTS_WITH_REFERENCE if reference else INPUTS_WITHOUT_REFERENCE)
    axes = {"stems": {0: "batch", 3: "frames"}, "presence": {0: "batch"}, OUTPUT: {0: "batch"}}
    if reference:
        axes["reference"] = {0: "batch", 3: "frames"}
    with tempfile.TemporaryDirectory() as tmp, _onnx_symbolics(opset), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the tracer's notes on Python-side input checks, which do not apply here
        traced = Path(tmp) / "model.onnx"
        torch.onnx.export(
            model,
            inputs if reference else inputs[:2],
            str(traced),
            input_names=names,
            output_names=[OUTPUT],
            dynamic_axes=axes,
            opset_version=opset,
            dynamo=False,
        )
        exported = onnx.load(traced)
        write_metadata(exported, metadata)
        onnx.checker.check_model(exported)
        onnx.save(exported, traced)
        if check:
            check_onnx(traced, loaded, held_out_clips(corpus), FP32_TOLERANCE)
    return _save(exported, out_path)


def quantize_onnx(onnx_path: str | Path, out_path: str | Path, mode: str, *, corpus: str | Path | None = None) -> Path:
    """An int8 copy of an fp32 export: ``dynamic`` or ``static`` (calibrated on ``corpus``'s train clips).

    Raises:
        ValueError: For an unknown mode.
    """
    if mode not in INT8_MODES:
        raise ValueError(f"int8 mode must be one of {INT8_MODES}, got {mode!r}")
    model, metadata = read_model(onnx_path)
    model = _typed(model)
    keep_float = float_nodes(model)
    with tempfile.TemporaryDirectory() as tmp:
        quantised = Path(tmp) / "int8.onnx"
        if mode == "dynamic":
            quantize_dynamic(
                model,
                quantised,
                op_types_to_quantize=QUANTISED_OPS,
                weight_type=QuantType.QInt8,
                nodes_to_exclude=keep_float,
            )
        else:
            quantize_static(
                model,
                quantised,
                _Calibration(metadata, calibration_clips(corpus)),
                quant_format=QuantFormat.QDQ,
                op_types_to_quantize=QUANTISED_OPS,
                per_channel=True,
                reduce_range=True,  # 7-bit weights: u8s8 products saturate on x86 CPUs without VNNI (onnxruntime)
                activation_type=QuantType.QUInt8,
                weight_type=QuantType.QInt8,
                nodes_to_exclude=keep_float,
            )
        result = onnx.load(quantised)
    write_metadata(result, dataclasses.replace(metadata, variant=f"{metadata.variant}-int8-{mode}"))
    return _save(result, out_path)


def prune_model(model_path: str | Path, out_path: str | Path, amount: float, *, structured: bool = False) -> Path:
    """Write a pruned copy of a checkpoint (a checkpoint like any other).

    Args:
        model_path: The checkpoint or run folder.
        out_path: The pruned checkpoint's file.
        amount: Share of weights (unstructured: of each conv and linear layer) or of output channels
            (structured: of each backbone convolution) to remove, in (0, 1).
        structured: Remove the backbone's conv channels of smallest L2 norm and rebuild the convolutions smaller;
            else zero each layer's weights of smallest magnitude (same shapes).

    Raises:
        ValueError: For an amount outside (0, 1), or structured pruning of a model without the conv backbone.
    """
    if not 0.0 < amount < 1.0:
        raise ValueError(f"pruning amount must be in (0, 1), got {amount}")
    loaded = load_model(model_path)
    if structured:
        model = _remove_channels(loaded.module, amount)
    else:
        model = copy.deepcopy(loaded.module)
        for layer in model.modules():
            if isinstance(layer, nn.Conv2d | nn.Linear):
                prune.l1_unstructured(layer, "weight", amount)
                prune.remove(layer, "weight")
    pruning = {"amount": amount, "structured": structured, "from": str(model_path), "fine_tuned": False}
    training = {**loaded.training, "pruning": pruning}
    return save_model(out_path, LoadedModel(model.eval(), loaded.features, loaded.sample_rate, training))


def fine_tune(
    model_path: str | Path,
    out_path: str | Path,
    *,
    epochs: int = FINE_TUNE_EPOCHS,
    steps_per_epoch: int = RECIPE.steps_per_epoch,
    data: TrainingData | None = None,
    corpus: str | Path | None = None,
    more: Sequence[str | Path] = (),
    lr: float = FINE_TUNE_LR,
    teacher: str | Path | None = None,
    seed: int = 0,
) -> Path:
    """Train a (pruned) checkpoint a little further, the way the default model was trained, and write it.

    :func:`supervised.train.train` starts every run from a fresh head, so this is its loop in brief, on its pieces:
    the default recipe's data (:data:`supervised.default.RECIPE`: remixes of the corpus's train songs, a
    :class:`~supervised.data.FeatureBank`), random 3 s crops in batches of 16, its augmentation and the model's own
    training loss, AdamW at ``lr`` decaying to zero over ``epochs`` x ``steps_per_epoch`` steps (no validation: the
    last step's model is kept). Weights that unstructured pruning set to zero stay zero.

    Args:
        model_path: The checkpoint to fine-tune.
        out_path: Where to write the fine-tuned checkpoint.
        epochs: Epochs of ``steps_per_epoch`` batches.
        steps_per_epoch: Batches per epoch (the recipe's 40 by default).
        data: Training data made by :func:`supervised.train.load_training_data` (default: made here from
            ``corpus`` as the recipe makes it; pass it to fine-tune several models on the same data).
        corpus: The synthetic corpus to make the data from (default: the default corpus).
        more: More collections whose train songs join it (``supervised.train --more-data``; e.g.
            :data:`DISTIL_MORE`, what the benchmark distils with).
        lr: Peak learning rate.
        teacher: Distil: learn this model's settings for each crop (e.g. the unpruned original) instead of the
            ground truth, so that the pruned model learns to mix as the original does rather than retrained.
        seed: Seeds the batches, augmentation and dropout: the same seed gives the same weights.
    """
    loaded = load_model(model_path)
    model = loaded.module
    if data is None:
        remixing = RECIPE.remixing()
        data = load_training_data(corpus, model.space, loaded.features, more=more, remixing=remixing, progress=False)
    rate = data.train.sample_rate
    crop_frames = loaded.features.num_frames(round(RECIPE.clip_seconds * rate), rate)
    check_crop(data.train, crop_frames)
    pruning = loaded.training.get("pruning")
    sparse = pruning is not None and not pruning["structured"]
    layers = [layer for layer in model.modules() if sparse and isinstance(layer, nn.Conv2d | nn.Linear)]
    zeros = {layer.weight: layer.weight != 0 for layer in layers}
    steps = epochs * steps_per_epoch
    optimizer = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=RECIPE.weight_decay)
    schedule = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: 1.0 - step / steps)
    augmenter = Augmenter(AugmentConfig(RECIPE.augment), model.space, loaded.features)
    rng, generator = np.random.default_rng(seed), torch.Generator().manual_seed(seed)
    passes = math.ceil(steps * RECIPE.batch_size / data.train.songs)
    order = np.concatenate([data.train.epoch_order(rng) for _ in range(passes)])
    guide = None if teacher is None else load_model(teacher).module.eval()
    model.train()
    with torch.random.fork_rng():  # dropout draws from torch's global generator: seeded here, restored after
        torch.manual_seed(seed)
        for step in range(steps):
            songs = order[step * RECIPE.batch_size : (step + 1) * RECIPE.batch_size]
            batch = augmenter(random_batch(data.train, songs, crop_frames, rng), generator)
            targets = batch.targets
            if guide is not None:
                with torch.inference_mode():
                    targets = guide(*batch.inputs)
            loss, _ = model.training_loss(batch.inputs, targets, batch.masks, RECIPE.loss)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            nn.utils.clip_grad_norm_(model.parameters(), GRAD_CLIP)
            optimizer.step()
            schedule.step()
            with torch.no_grad():
                for weight, keep in zeros.items():
                    weight.mul_(keep)
    tuning = {"epochs": epochs, "steps": steps, "lr": lr, "teacher": None if teacher is None else str(teacher)}
    training = {**loaded.training, "fine_tuning": {**tuning, "seed": seed}}
    if "pruning" in training:
        training["pruning"] = {**training["pruning"], "fine_tuned": True}
    return save_model(out_path, LoadedModel(model.eval(), loaded.features, loaded.sample_rate, training))


def check_onnx(
    onnx_path: str | Path, torch_model: LoadedModel | str | Path, clips: Sequence[Multitrack], tolerance: Tolerance
) -> np.ndarray:
    """The absolute differences ``(clips, params)`` between an exported model's settings and torch's on ``clips``.

    Raises:
        ExportCheckError: Past ``tolerance``, naming the file, the differences found and the bounds.
    """
    exported = OnnxPredictor(onnx_path)
    original = ModelPredictor(torch_model, use_reference=exported.metadata.reference)
    difference = np.abs(exported.predict(clips) - original.predict(clips))
    typical, worst = float(np.median(difference.max(axis=1))), float(difference.max())
    if typical > tolerance.typical or worst > tolerance.worst:
        raise ExportCheckError(
            f"{onnx_path}'s settings differ from torch's by up to {worst:.3g} (median clip {typical:.3g}) on "
            f"{len(clips)} held-out clips, past the tolerance {tolerance.worst:g} (median clip "
            f"{tolerance.typical:g}); export it again, or leave out the step that broke it (int8, pruning)"
        )
    return difference


def held_out_clips(corpus: str | Path | None = None, count: int = CHECK_CLIPS) -> list[Multitrack]:
    """The middle :data:`CLIP_SECONDS` of up to ``count`` held-out songs of ``corpus`` (default: the default corpus):
    its val songs, then its test songs."""
    return _clips(corpus, ("val", "test"), count)


def calibration_clips(corpus: str | Path | None = None, count: int = CALIBRATION_CLIPS) -> list[Multitrack]:
    """Clips of up to ``count`` train songs, to calibrate static int8 on (never the held-out songs)."""
    return _clips(corpus, ("train",), count)


def _clips(corpus: str | Path | None, splits: Sequence[str], count: int) -> list[Multitrack]:
    root = Path(corpus) if corpus is not None else artifacts.corpus()
    songs = [song for split in splits for song in corpus_songs(root, split)][:count]
    if not songs:
        raise DatasetError(f"the corpus {root} has no {' or '.join(splits)} songs to export with")
    return [clip.excerpt for clip in song_clips(songs, CLIP_SECONDS, preroll_seconds=0.0)]


class _Calibration(CalibrationDataReader):
    """Feeds the graph's inputs, one clip at a time, to onnxruntime's static calibration."""

    def __init__(self, metadata: OnnxMetadata, clips: Sequence[Multitrack]) -> None:
        batches = model_batches(clips, metadata.roles, metadata.features, metadata.reference)
        self._feeds = iter([input_feed(inputs, metadata.reference) for inputs in batches])

    def get_next(self) -> dict[str, np.ndarray] | None:
        return next(self._feeds, None)


def _traceable(model: MixModel, reference: bool) -> nn.Module:
    """A copy of ``model`` whose backbone pools with ``nn.MaxPool2d`` (the same values; exports with dynamic frames,
    where the strided slices of :class:`~mixenv.backbone.MaxPool` bake the traced length in)."""
    model = copy.deepcopy(model).eval()
    for stage in model.backbone.modules():
        if isinstance(stage, nn.Sequential):
            for i, layer in enumerate(stage):
                if isinstance(layer, MaxPool):
                    stage[i] = nn.MaxPool2d(layer.kernel)
    return model if reference else _ReferenceFree(model)


class _ReferenceFree(nn.Module):
    """``model(stems, presence)``: the graph of reference-free prediction."""

    def __init__(self, model: MixModel) -> None:
        super().__init__()
        self.model = model

    def forward(self, stems: torch.Tensor, presence: torch.Tensor) -> torch.Tensor:
        return self.model(stems, presence)


def _example_inputs(loaded: LoadedModel) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Inputs of a 2-clip batch of 2 s to trace with (the axes are dynamic; the values do not matter)."""
    generator = torch.Generator().manual_seed(0)
    roles, mels = len(loaded.module.space.roles), loaded.features.n_mels
    frames = loaded.features.num_frames(2 * loaded.sample_rate, loaded.sample_rate)
    stems = torch.rand(2, roles, mels, frames, generator=generator) * 2 - 1
    reference = torch.rand(2, 2, mels, frames, generator=generator) * 2 - 1
    return stems, torch.ones(2, roles), reference


@symbolic_helper.parse_args("v", "i", "i")
def _median(g: torch.Graph, values: torch.Value, dim: int, keepdim: int) -> tuple[torch.Value, torch.Value]:
    """``torch.median(values, dim)`` (the lower middle value) as the last of the ``(n - 1) // 2 + 1`` smallest."""

    def constant(value: int) -> torch.Value:
        return g.op("Constant", value_t=torch.tensor([value]))

    n = g.op("Gather", g.op("Shape", values), constant(dim), axis_i=0)
    k = g.op("Add", g.op("Div", g.op("Sub", n, constant(1)), constant(2)), constant(1))
    smallest, indices = g.op("TopK", values, k, axis_i=dim, largest_i=0, sorted_i=1, outputs=2)
    last = g.op("Sub", k, constant(1))
    median, index = g.op("Gather", smallest, last, axis_i=dim), g.op("Gather", indices, last, axis_i=dim)
    if not keepdim:
        median, index = g.op("Squeeze", median, constant(dim)), g.op("Squeeze", index, constant(dim))
    return median, index


@symbolic_helper.parse_args("v", "v", "b")
def _solve(g: torch.Graph, a: torch.Value, b: torch.Value, left: bool) -> torch.Value:
    """``torch.linalg.solve(a, b)`` as ``inverse(a) @ b`` (onnxruntime's contrib ``Inverse``)."""
    if not left:
        raise ValueError("only linalg.solve(A, B, left=True) exports")
    return g.op("MatMul", g.op("com.microsoft::Inverse", a), b)


@contextlib.contextmanager
def _onnx_symbolics(opset: int) -> Iterator[None]:
    """Register :func:`_median` and :func:`_solve` with torch's exporter for one export."""
    symbolics = {"aten::median": _median, "aten::linalg_solve": _solve}
    for name, symbolic in symbolics.items():
        torch.onnx.register_custom_op_symbolic(name, symbolic, opset)
    try:
        yield
    finally:
        for name in symbolics:
            torch.onnx.unregister_custom_op_symbolic(name, opset)


def _remove_channels(model: MixModel, amount: float) -> MixModel:
    """``model`` with ``amount`` of each backbone convolution's output channels removed (smallest L2 norm first).

    A removed channel's output is a constant (its batch norm's shift through GELU and max pooling); its effect on
    the next layer is folded in (into the next batch norm's running mean, or the frame projection's bias), so the
    smaller network matches the masked one except at the convolutions' zero-padded borders.
    """
    if not isinstance(model.backbone, Backbone):
        raise ValueError(f"structured pruning needs the conv backbone, not {type(model.backbone).__name__}")
    source = model.backbone
    stages = [(stage[0], stage[1]) for stage in source.stages]
    kept: list[torch.Tensor] = []
    for conv, _ in stages:
        norms = conv.weight.detach().flatten(1).norm(dim=1)
        keep = conv.out_channels - round(amount * conv.out_channels)
        kept.append(norms.topk(keep).indices.sort().values)
    widths = tuple(len(k) for k in kept)
    config = dataclasses.replace(model.config, conv=dataclasses.replace(model.config.conv, widths=widths))
    smaller = build_model(config)
    state = {k: v for k, v in model.state_dict().items() if not k.startswith("backbone.")}
    smaller.load_state_dict(state, strict=False)
    target = smaller.backbone
    with torch.no_grad():
        previous = torch.arange(stages[0][0].in_channels)
        shift = torch.zeros(stages[0][0].out_channels)  # the removed channels' effect on this conv's outputs
        for i, ((conv, norm), keep) in enumerate(zip(stages, kept, strict=True)):
            new_conv, new_norm = target.stages[i][0], target.stages[i][1]
            new_conv.weight.copy_(conv.weight[keep][:, previous])
            for name in ("weight", "bias", "running_mean", "running_var"):
                getattr(new_norm, name).copy_(getattr(norm, name)[keep])
            new_norm.running_mean.sub_(shift[keep])
            removed = _removed(conv.out_channels, keep)
            constant = _channel_constant(norm, removed)
            if i + 1 < len(stages):
                shift = stages[i + 1][0].weight[:, removed].sum(dim=(2, 3)) @ constant
            else:
                target.frame_projection.weight.copy_(source.frame_projection.weight[:, keep])
                target.frame_projection.bias.copy_(
                    source.frame_projection.bias + source.frame_projection.weight[:, removed] @ constant
                )
            previous = keep
        target.clip_projection.load_state_dict(source.clip_projection.state_dict())
    return smaller.eval()


def _removed(channels: int, keep: torch.Tensor) -> torch.Tensor:
    mask = torch.ones(channels, dtype=torch.bool)
    mask[keep] = False
    return mask.nonzero().flatten()


def _channel_constant(norm: nn.BatchNorm2d, channels: torch.Tensor) -> torch.Tensor:
    """The output of conv channels whose weights are zero: their batch norm's shift, through GELU (eval mode)."""
    assert norm.running_mean is not None and norm.running_var is not None
    scale = norm.weight[channels] / torch.sqrt(norm.running_var[channels] + norm.eps)
    return nn.functional.gelu(norm.bias[channels] - norm.running_mean[channels] * scale)


def _typed(model: onnx.ModelProto) -> onnx.ModelProto:
    """``model`` with every tensor's type inferred, after declaring ``Inverse``'s output float: ONNX's inference does
    not know that contrib op, which hid the types of all that follows from the quantiser (it then left the
    reference-matching projection in float32)."""
    inverses = {node.output[0] for node in model.graph.node if node.op_type == "Inverse"}
    kept = [info for info in model.graph.value_info if info.name not in inverses]
    del model.graph.value_info[:]
    model.graph.value_info.extend(kept)
    model.graph.value_info.extend(
        onnx.helper.make_tensor_value_info(name, onnx.TensorProto.FLOAT, None) for name in inverses
    )
    return onnx.shape_inference.infer_shapes(model)


def _save(model: onnx.ModelProto, out_path: str | Path) -> Path:
    """Write ``model`` atomically, without the intermediate tensors' shapes (a tenth of an int8 file; onnxruntime
    infers them when it loads the model)."""
    del model.graph.value_info[:]
    with atomic_path(out_path) as tmp:
        onnx.save(model, tmp)
    return Path(out_path)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The arguments of ``mixenv export`` / ``python -m supervised.export``."""
    parser.add_argument("--model", type=Path, required=True, help="a run folder or model.pt to export")
    parser.add_argument("--out", type=Path, required=True, help="the .onnx file to write")
    parser.add_argument("--int8", choices=INT8_MODES, help="quantise to int8: dynamic, or static (calibrated)")
    parser.add_argument(
        "--prune", type=float, metavar="AMOUNT", help="prune this share of weights first, in (0, 1), e.g. 0.3"
    )
    parser.add_argument(
        "--structured", action="store_true", help="with --prune: remove backbone conv channels (faster, smaller)"
    )
    parser.add_argument(
        "--fine-tune",
        type=int,
        default=0,
        metavar="EPOCHS",
        help="then train this many epochs of 40 steps on the default recipe's data (fine_tune), a pruned model "
        "distilled from --model; 0: none",
    )
    parser.add_argument(
        "--more-data",
        action="append",
        default=[],
        metavar="NAME|DIR",
        help="with --fine-tune: more songs to train on (a training set's name, e.g. classics, or a corpus or folder "
        "of song folders at the corpus's rate; repeatable). The benchmark distils its pruned models with classics",
    )
    parser.add_argument("--no-reference", action="store_true", help="export the reference-free graph")
    parser.add_argument(
        "--check", action="store_true", help="compare with torch on held-out clips; fail past tolerance"
    )
    parser.add_argument("--corpus", type=Path, help="corpus for --check and static calibration (default: the default)")
    parser.add_argument("--opset", type=int, default=OPSET, help=f"ONNX opset (default {OPSET})")


def run(args: argparse.Namespace) -> int:
    """Export as ``args`` say (see :func:`add_arguments`); 0 on success, 2 with a message on an error."""
    model: Path = args.model
    if args.out.suffix != ".onnx":
        print(f"supervised.export: error: --out must name a .onnx file, got {args.out}", file=sys.stderr)
        return 2
    try:
        if args.prune is not None:
            model = prune_model(model, args.out.with_suffix(".pt"), args.prune, structured=args.structured)
            print(f"wrote the pruned checkpoint {model}")
        if args.fine_tune:
            teacher = args.model if args.prune is not None else None
            tuned = args.out.with_suffix(".pt")
            model = fine_tune(
                model, tuned, epochs=args.fine_tune, corpus=args.corpus, more=args.more_data, teacher=teacher
            )
            print(f"wrote the fine-tuned checkpoint {model}")
        with tempfile.TemporaryDirectory() as tmp:
            fp32 = args.out if args.int8 is None else Path(tmp) / "fp32.onnx"
            export_onnx(
                model,
                fp32,
                opset=args.opset,
                reference=not args.no_reference,
                check=args.check and args.int8 is None,
                corpus=args.corpus,
            )
            if args.int8 is not None:
                quantize_onnx(fp32, args.out, args.int8, corpus=args.corpus)
                if args.check:
                    clips = held_out_clips(args.corpus)
                    check_onnx(args.out, model, clips, INT8_TOLERANCE)
    except (FileNotFoundError, DatasetError, ClipError, InputError, ValueError, ExportCheckError) as err:
        print(f"supervised.export: error: {err}", file=sys.stderr)
        return 2
    print(f"wrote {args.out} ({args.out.stat().st_size / 1e6:.2f} MB)" + (" checked" if args.check else ""))
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``python -m supervised.export``."""
    parser = argparse.ArgumentParser(
        prog="python -m supervised.export", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    add_arguments(parser)
    return run(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
