"""Data-parallel training under ``torchrun``: the process group, and what each rank shares or keeps for itself.

``torchrun --nproc-per-node N -m supervised.train ...`` starts N processes with ``WORLD_SIZE``, ``RANK`` and
``LOCAL_RANK`` set; :func:`process_group` joins them (gloo for a CPU model, nccl for a GPU one) and hands out a
:class:`World`. Without those variables (or with one process) the world is a single rank and nothing here touches
torch.distributed, so the single-process path runs exactly as it always has.

Every rank draws the same batch order, clip lengths, crops and reference dropout from the shared numpy stream and
keeps its own shard of each global batch (``--batch-size`` per rank, times the world size); dropout and augmentation
draw from per-rank torch streams; DDP averages the gradients; validation batches are split between the ranks and
their results gathered, so every rank takes the same early-stopping decision. Only rank 0 writes files.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

import numpy as np
import torch
import torch.distributed as dist
from torch import nn
from torch.nn.parallel import DistributedDataParallel

from supervised.inputs import ModelInputs
from supervised.models import MixModel

T = TypeVar("T")
Objective = Callable[[ModelInputs, torch.Tensor, torch.Tensor], tuple[torch.Tensor, torch.Tensor]]
"""A training step's loss and predictions from a batch's inputs, targets and target masks."""


@dataclass(frozen=True)
class World:
    """This process's rank among ``size`` training processes (rank 0 of 1 when not launched by ``torchrun``)."""

    rank: int = 0
    size: int = 1

    @property
    def main(self) -> bool:
        """Whether this is rank 0: the one that writes files, logs and shows progress."""
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.size > 1

    def shard(self, items: Sequence[T]) -> Sequence[T]:
        """This rank's share of ``items``: every ``size``-th, from the ``rank``-th."""
        return items[self.rank :: self.size]

    def gather(self, items: list[T]) -> list[T]:
        """Every rank's ``items``, concatenated in rank order (``items`` itself in a single process)."""
        if not self.distributed:
            return items
        parts: list[list[T] | None] = [None] * self.size
        dist.all_gather_object(parts, items)
        return [item for part in parts for item in part or ()]

    def mean(self, value: float) -> float:
        """The mean of ``value`` over the ranks (``value`` itself in a single process)."""
        if not self.distributed:
            return value
        total = torch.tensor([value], dtype=torch.float64)
        dist.all_reduce(total)
        return float(total.item()) / self.size

    def share_buffers(self, module: nn.Module) -> None:
        """Copy rank 0's buffers (batch-norm running statistics) to every rank.

        DDP sends them before each forward, so after an epoch each rank's differ by its own last batch; this makes
        every rank validate the model rank 0 saves.
        """
        if self.distributed:
            for buffer in module.buffers():
                dist.broadcast(buffer, src=0)

    def from_main(self, make: Callable[[], T]) -> T:
        """``make()`` run on rank 0 alone and sent to every rank; if it raises, every rank raises the same error.

        For what rank 0 alone can see (the run folder, on one node's disk) and what every rank must agree on.
        """
        if not self.distributed:
            return make()
        box: list[Any] = [None]
        if self.main:
            try:
                box[0] = (make(), None)
            except Exception as err:  # sent to the other ranks, then raised here too
                box[0] = (None, err)
        dist.broadcast_object_list(box, src=0)
        value, error = box[0]
        if error is not None:
            raise error
        return value

    def reseed(self, generator: torch.Generator, seed: int, epoch: int) -> None:
        """Give ranks other than 0 their own dropout and augmentation streams for ``epoch``.

        Rank 0 keeps the stream it resumes from ``last.pt`` (a single process's); the others' depend only on the
        seed, their rank and the epoch, so a resumed run continues every rank's stream exactly without saving it.
        """
        if self.main:
            return
        model_seed, augment_seed = np.random.SeedSequence([seed, self.rank, epoch]).generate_state(2)
        torch.manual_seed(int(model_seed))
        generator.manual_seed(int(augment_seed))


def launched_rank() -> int:
    """This process's rank as ``torchrun`` set it (0 when not launched by it), before the group is joined."""
    return int(os.environ.get("RANK", "0"))


def backend(device: torch.device) -> str:
    """The collective backend for models on ``device``: nccl for CUDA, gloo otherwise."""
    return "nccl" if device.type == "cuda" else "gloo"


@contextlib.contextmanager
def process_group(device: torch.device) -> Iterator[World]:
    """Join the ``torchrun`` process group (if there is one) for the run's duration; waits for every rank at the end.

    The group is destroyed however the run ends, so an error on one rank does not leave the others' sockets open.
    """
    size = int(os.environ.get("WORLD_SIZE", "1"))
    if size == 1:
        yield World()
        return
    if device.type == "cuda":
        torch.cuda.set_device(int(os.environ["LOCAL_RANK"]))
    dist.init_process_group(backend(device))
    try:
        yield World(dist.get_rank(), dist.get_world_size())
        dist.barrier()
    finally:
        dist.destroy_process_group()


class _Loss(nn.Module):
    """The model's training loss as a module's forward, since DDP hooks into ``forward`` to average gradients."""

    def __init__(self, model: MixModel, loss: str) -> None:
        super().__init__()
        self.model = model
        self.loss = loss

    def forward(
        self, inputs: ModelInputs, targets: torch.Tensor, masks: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        return self.model.training_loss(inputs, targets, masks, self.loss)


def objective(model: MixModel, loss: str, world: World) -> Objective:
    """The training loss of ``model``: its own ``training_loss`` in one process, through DDP across several.

    ``find_unused_parameters`` (DDP fails without it, checked): a batch with its reference leaves the cnn's and
    crnn's learnt stand-in for a missing one without a gradient, a batch without (``--reference-dropout``) the
    reference's normalisation and matching projection, and the cvae never reads the reference at all. Parameters of
    a frozen backbone need no gradient and DDP leaves them out.
    """
    if not world.distributed:
        return lambda inputs, targets, masks: model.training_loss(inputs, targets, masks, loss)
    return DistributedDataParallel(_Loss(model, loss), find_unused_parameters=True)
