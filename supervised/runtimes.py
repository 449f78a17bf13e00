"""One predictor interface, two runtimes: a trained model run by torch (:class:`~supervised.predictors.ModelPredictor`)
or exported and run by onnxruntime (:class:`~supervised.onnx_predictor.OnnxPredictor`), chosen by name.

onnxruntime is imported only when asked for, so the torch runtime needs nothing more than the base install.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import TYPE_CHECKING

from mixenv.checkpoint import Trained
from supervised.checkpoint import LoadedModel
from supervised.inputs import InputError
from supervised.predictors import ModelPredictor

if TYPE_CHECKING:
    from supervised.onnx_predictor import OnnxPredictor

RUNTIMES: tuple[str, ...] = ("torch", "onnx")
"""What :func:`load_predictor` can run a model on."""


def load_predictor(
    path: LoadedModel | str | os.PathLike[str],
    runtime: str = "torch",
    *,
    roles: Sequence[str] | None = None,
    use_reference: bool = True,
    name: str | None = None,
) -> ModelPredictor | OnnxPredictor:
    """A model file as a :class:`~supervised.predictors.Predictor` on either runtime, with the same ``.predict``,
    ``.space`` and ``.reads_reference`` (``None`` for torch: either; an export's graph fixes it).

    Args:
        path: A checkpoint (``model.pt`` or its run folder, or a loaded model) for ``torch``; an exported ``.onnx``
            file for ``onnx`` (:mod:`supervised.export`).
        runtime: ``"torch"`` or ``"onnx"`` (onnxruntime, imported only here).
        roles: The roles the caller mixes; a model of other roles is refused.
        use_reference: Give the model the reference (when clips have one).
        name: Name in tables.

    Raises:
        ValueError: For an unknown runtime, or an unreadable model file.
        FileNotFoundError: For a missing model file.
        InputError: For a model of other roles than ``roles``.
    """
    predictor: ModelPredictor | OnnxPredictor
    if runtime == "torch":
        predictor = ModelPredictor(path, use_reference=use_reference, name=name)
    elif runtime == "onnx":
        from supervised.onnx_predictor import OnnxPredictor

        if isinstance(path, Trained):
            raise ValueError("the onnx runtime runs an exported .onnx file, not a loaded torch model")
        predictor = OnnxPredictor(path, use_reference=use_reference, name=name)
    else:
        raise ValueError(f"runtime must be one of {RUNTIMES}, got {runtime!r}")
    if roles is not None and predictor.space.roles != tuple(roles):
        raise InputError(
            f"the model {path} mixes the roles {predictor.space.roles}, but these songs need a model of "
            f"{tuple(roles)}; pass a model trained on those roles"
        )
    return predictor
