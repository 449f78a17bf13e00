"""A supervised model exported to ONNX (:mod:`supervised.export`), run on onnxruntime as a :class:`Predictor`.

An exported file carries what predicting needs besides the network, as ONNX ``metadata_props``
(:class:`OnnxMetadata`): the roles (and so the :class:`~mixenv.params.ParamSpace`), the log-mel
:class:`~mixenv.features.FeatureConfig`, whether the graph reads a reference, and what it was made from. The
inputs are prepared exactly as for the torch model (:func:`supervised.predictors.model_batches`), so the two
runtimes differ only in the network's arithmetic.
"""

from __future__ import annotations

import dataclasses
import json
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import onnxruntime as ort

from mixenv.data import Multitrack
from mixenv.features import FeatureConfig
from mixenv.params import ParamSpace
from supervised.inputs import InputError, ModelInputs
from supervised.predictors import model_batches

FORMAT = "mixenv-onnx-predictor"
VERSION = 1
INPUTS_WITH_REFERENCE: tuple[str, ...] = ("stems", "presence", "reference")
INPUTS_WITHOUT_REFERENCE: tuple[str, ...] = ("stems", "presence")
OUTPUT = "settings"
EXPORT_HINT = "python -m supervised.export --model RUN --out {path}"
"""How to make a file again (formatted with its path)."""


@dataclass(frozen=True)
class OnnxMetadata:
    """What an exported model states about itself (stored as ``metadata_props``, one JSON value per key).

    Attributes:
        roles: Stem slots, in :class:`~mixenv.params.ParamSpace` order.
        features: The log-mel front end the network reads.
        sample_rate: The rate of the audio it was trained on.
        reference: Whether the graph takes a ``reference`` input (else it mixes reference-free).
        name: The model's preset name (``cnn``, ...).
        variant: ``fp32``, ``int8-dynamic``, ``int8-static``, with ``pruned-...`` where pruned.
        source: The checkpoint it was exported from.
    """

    roles: tuple[str, ...]
    features: FeatureConfig
    sample_rate: int
    reference: bool
    name: str
    variant: str
    source: str

    def to_props(self) -> dict[str, str]:
        """The ``metadata_props`` entries: ``mixenv.format``, ``mixenv.version`` and each field as JSON."""
        fields = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        fields["features"] = dataclasses.asdict(self.features)
        props = {f"mixenv.{key}": json.dumps(value) for key, value in fields.items()}
        return {"mixenv.format": FORMAT, "mixenv.version": str(VERSION), **props}

    @classmethod
    def from_props(cls, props: Mapping[str, str], path: str | os.PathLike[str]) -> OnnxMetadata:
        """Read :meth:`to_props`'s entries back.

        Raises:
            ValueError: If they are missing (not a mixenv export) or of another version, naming ``path``.
        """
        fix = f"export the model again with {EXPORT_HINT.format(path=path)}"
        if props.get("mixenv.format") != FORMAT:
            raise ValueError(f"{path} is an ONNX model but not a mixenv predictor export (no mixenv metadata); {fix}")
        if props.get("mixenv.version") != str(VERSION):
            raise ValueError(
                f"{path} is mixenv ONNX export version {props.get('mixenv.version')}, not {VERSION}; {fix}"
            )
        values: dict[str, Any] = {f.name: json.loads(props[f"mixenv.{f.name}"]) for f in dataclasses.fields(cls)}
        values["roles"] = tuple(values["roles"])
        values["features"] = FeatureConfig(**values["features"])
        return cls(**values)


def write_metadata(model: onnx.ModelProto, metadata: OnnxMetadata) -> None:
    """Replace ``model``'s mixenv metadata with ``metadata`` (other entries are kept)."""
    kept = [p for p in model.metadata_props if not p.key.startswith("mixenv.")]
    del model.metadata_props[:]
    model.metadata_props.extend(kept)
    onnx.helper.set_model_props(model, {**{p.key: p.value for p in kept}, **metadata.to_props()})


def read_model(path: str | os.PathLike[str]) -> tuple[onnx.ModelProto, OnnxMetadata]:
    """Load an exported file and its metadata.

    Raises:
        FileNotFoundError: For a missing file (the message says how to export one).
        ValueError: For a file that is not a readable ONNX model, or not a mixenv export.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no ONNX model at {path}; export one with {EXPORT_HINT.format(path=path)}")
    try:
        model = onnx.load(path)
    except Exception as err:  # protobuf raises several types for truncated or foreign files
        raise ValueError(
            f"{path} is not a readable ONNX model ({err}); export it again with {EXPORT_HINT.format(path=path)}"
        ) from err
    return model, OnnxMetadata.from_props({p.key: p.value for p in model.metadata_props}, path)


def session(model: onnx.ModelProto | str | os.PathLike[str], threads: int | None = None) -> ort.InferenceSession:
    """An onnxruntime CPU session; ``threads`` sets its intra-op threads (default: onnxruntime's choice)."""
    options = ort.SessionOptions()
    if threads is not None:
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
    source = model.SerializeToString() if isinstance(model, onnx.ModelProto) else str(model)
    return ort.InferenceSession(source, options, providers=["CPUExecutionProvider"])


def input_feed(inputs: ModelInputs, reference: bool) -> dict[str, np.ndarray]:
    """The graph's inputs by name (a reference-free graph ignores the reference).

    Raises:
        InputError: For a graph that reads a reference and inputs without one.
    """
    feed = {"stems": inputs.stems.numpy(), "presence": inputs.presence.numpy()}
    if reference:
        if inputs.reference is None:
            raise InputError(
                "this ONNX model was exported to read a reference, but the clips have none (or use_reference is "
                "off); export a reference-free one with python -m supervised.export --no-reference, or use the "
                "torch runtime"
            )
        feed["reference"] = inputs.reference.numpy()
    return feed


class OnnxPredictor:
    """An exported model on onnxruntime, with :class:`~supervised.predictors.ModelPredictor`'s interface.

    Args:
        path: The ``.onnx`` file (:func:`supervised.export.export_onnx`).
        use_reference: Give the model the reference (a graph exported with one needs it).
        name: Name in tables (default: the model's preset name and variant).
        threads: onnxruntime intra-op threads (default: onnxruntime's choice).

    Raises:
        FileNotFoundError: For a missing file.
        ValueError: For a file that is not a mixenv ONNX export.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        use_reference: bool = True,
        name: str | None = None,
        threads: int | None = None,
    ) -> None:
        self.path = Path(path)
        model, self.metadata = read_model(self.path)
        try:
            self.session = session(model, threads)
        except Exception as err:  # onnxruntime raises its own types for graphs it cannot run
            raise ValueError(
                f"onnxruntime cannot run {self.path} ({err}); export it again with {EXPORT_HINT.format(path=self.path)}"
            ) from err
        self.space = ParamSpace(self.metadata.roles)
        self.features = self.metadata.features
        self.use_reference = use_reference
        self.reads_reference: bool | None = self.metadata.reference
        """The graph fixes it: exported with a reference input it always reads one, without it never."""
        self.name = name or f"{self.metadata.name} (onnx {self.metadata.variant})"

    def predict(self, clips: Sequence[Multitrack]) -> np.ndarray:
        """Normalised settings ``(clips, params)`` for clips of equal length."""
        batches = model_batches(clips, self.space.roles, self.features, self.use_reference)
        return np.concatenate([self.predict_inputs(inputs) for inputs in batches])

    def predict_inputs(self, inputs: ModelInputs) -> np.ndarray:
        """Settings ``(batch, params)`` float32 for ready-made inputs."""
        (settings,) = self.session.run([OUTPUT], input_feed(inputs, self.metadata.reference))
        return settings
