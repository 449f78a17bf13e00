"""What the last bits of a trained network depend on, a fingerprint of those bits, and the check of a rerun
against a record of them.

The shipped networks (the default backbone, :mod:`mixenv.pretrain.default`, and the default mixing model,
:mod:`supervised.default`) keep records of their weights' fingerprints at points of their training (after some
steps, after each epoch), so a rerun of their recipes can be checked point by point: bit for bit on a recorded
platform, by its loss to a tolerance elsewhere.
"""

from __future__ import annotations

import hashlib
import math
import platform as host
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import torch


def platform() -> str:
    """What the last bits of a trained network depend on: the CPU model, the instruction set torch's kernels use,
    and torch's version."""
    cpu = host.processor() or host.machine()
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.is_file():
        names = [
            line.split(":", 1)[1].strip() for line in cpuinfo.read_text().splitlines() if line.startswith("model name")
        ]
        cpu = names[0] if names else cpu
    return f"{cpu}, {torch.backends.cpu.get_cpu_capability()}, torch {torch.__version__}"


def weights_digest(module: torch.nn.Module) -> str:
    """A fingerprint of every weight and buffer of ``module`` (names, dtypes, shapes and bytes): equal exactly when
    the state dicts are. Training logs it after each epoch, so a rerun can be checked epoch by epoch."""
    digest = hashlib.sha256()
    for name, tensor in sorted(module.state_dict().items()):
        digest.update(f"{name}:{tensor.dtype}:{tuple(tensor.shape)};".encode())
        digest.update(tensor.detach().cpu().contiguous().reshape(-1).view(torch.uint8).numpy().tobytes())
    return digest.hexdigest()[:16]


def reproduction_problems(
    runs: Sequence[Mapping[str, Any]],
    trained: Mapping[str, Sequence[Any]],
    here: str,
    *,
    loss: str,
    loss_name: str,
    rtol: float,
    labels: Sequence[str],
) -> list[str]:
    """What keeps a rerun from reproducing a record, one line per point of training; empty if it does.

    Args:
        runs: The recorded runs, each with its ``weights`` fingerprints and ``loss`` values per point, and the
            ``platform`` it ran on (absent in a record made before it was kept).
        trained: The rerun's ``weights`` and ``loss`` values, from its first point on (it may stop early).
        here: This machine's :func:`platform`.
        loss: The key of the loss values in ``runs`` and ``trained``.
        loss_name: How the lines name the loss.
        rtol: How far, relatively, the rerun's loss may stray from a record's off the recorded platforms.
        labels: How the lines name each point (``epoch 1``, ``step 50``, ...).

    On a platform a run was recorded on, every point must match its fingerprints bit for bit. Elsewhere each point
    must match some recorded run's fingerprint for it (a CPU of another name can compute the same bits) or have its
    loss within ``rtol`` of the first recorded run's that has one for that point.
    """
    recorded_here = next((r for r in runs if r.get("platform") == here), None)
    if recorded_here is not None:
        expected = recorded_here["weights"]
        return [
            f"{labels[i]}: weights differ from the record's on {here}"
            for i, digest in enumerate(trained["weights"])
            if i >= len(expected) or expected[i] != digest
        ]
    problems = []
    for i, (digest, value) in enumerate(zip(trained["weights"], trained[loss], strict=True)):
        if any(len(r["weights"]) > i and r["weights"][i] == digest for r in runs):
            continue  # bit for bit a recorded run's point
        reference = next((r[loss][i] for r in runs if len(r.get(loss, [])) > i), None)
        if reference is None:
            problems.append(f"{labels[i]}: no platform recorded its {loss_name}")
        elif not math.isclose(value, reference, rel_tol=rtol):
            problems.append(f"{labels[i]}: {loss_name} {value:.9g}, the record's {reference:.9g} (more than {rtol:g} "
                            f"apart; {here} has no recorded fingerprints)")  # fmt: skip
    return problems
