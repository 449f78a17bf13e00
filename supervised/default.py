"""The default mixing model: the one ``mixenv mix`` and ``make run`` use, shipped in the package, and the one
command that reproduces it.

It is there on a fresh machine (``supervised/default_model.pt``, 2 MB: the whole network, backbone included, and
the features it reads; loading it needs nothing else). It is a ``cnn`` trained by :data:`RECIPE` on the default
synthetic corpus with the default pretrained backbone, both built on first use. The command gives identical
weights, bit for bit, from an empty data cache too (a test holds it): the corpus is built the same whatever the
workers, the backbone is pretrained with one torch thread (:data:`mixenv.artifacts.PRETRAIN_THREADS`) and the model
trained with :data:`TRAIN_THREADS`, since the order of floating-point sums follows the thread count:

    python -m supervised.default --out runs/default            # train it again (about 4 minutes on 2 cores) and compare
    python -m supervised.default --out runs/default --update   # and make the new one the shipped model

The recipe was chosen on validation data, never on the test sets: see the README's "Music it has never heard".
"""

from __future__ import annotations

import argparse
import dataclasses
import shutil
import sys
from collections.abc import Sequence
from pathlib import Path

import torch

from mixenv.engines import torch_threads
from supervised.args import TrainArgs
from supervised.checkpoint import load_model
from supervised.train import train

SHIPPED = Path(__file__).with_name("default_model.pt")
TRAIN_THREADS = 2
"""Torch threads the shipped model was trained with: the order of floating-point sums depends on it, so
:func:`reproduce` trains with exactly these (a process that set one thread, as the agents' envs do, would not
reproduce the weights otherwise)."""
RECIPE = TrainArgs(
    model="cnn",
    epochs=15,
    steps_per_epoch=40,
    batch_size=16,
    clip_seconds=3.0,
    mixes_per_song=8,
    wide_share=0.5,
    reference_dropout=0.0,
    remix_rates=(22_050, 44_100, 48_000),
    min_clip_seconds=2.0,
    excerpt_seconds=3.0,
    seed=0,
    progress=False,
)
"""The generalisation benchmark's "cnn, randomised" recipe (a test holds them equal): each song's stems remixed 8
times, re-coloured, some roles left out, at 22.05/44.1/48 kHz, clips of 2-3 s, half under the wide prior."""


def default_model_path() -> Path:
    """The shipped default model's file.

    Raises:
        FileNotFoundError: If the package was installed without it (the message says how to make it).
    """
    if not SHIPPED.is_file():
        raise FileNotFoundError(
            f"the default mixing model {SHIPPED} is missing from this installation; make it with "
            "python -m supervised.default --out runs/default --update, or pass a model of your own"
        )
    return SHIPPED


def differing_weights(a: str | Path, b: str | Path) -> list[str]:
    """Names of the weights (and buffers) in which two model checkpoints differ; empty if identical."""
    first, second = load_model(a).module.state_dict(), load_model(b).module.state_dict()
    names = sorted(set(first) | set(second))
    return [n for n in names if n not in first or n not in second or not torch.equal(first[n], second[n])]


def reproduce(out: Path) -> Path:
    """Train :data:`RECIPE` into ``out`` with :data:`TRAIN_THREADS` torch threads; returns the model file."""
    with torch_threads(TRAIN_THREADS):
        return train(dataclasses.replace(RECIPE, out=out)).out / "model.pt"


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``python -m supervised.default``."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, required=True, help="run folder to train into")
    parser.add_argument("--update", action="store_true", help="replace the shipped model with the one trained")
    args = parser.parse_args(argv)
    trained = reproduce(args.out)
    if args.update:
        staged = SHIPPED.with_suffix(".tmp")
        shutil.copyfile(trained, staged)
        staged.replace(SHIPPED)
        print(f"{SHIPPED} is now {trained}")
        return 0
    differ = differing_weights(trained, default_model_path()) if SHIPPED.is_file() else ["(no shipped model)"]
    if differ:
        print(f"{trained} differs from the shipped {SHIPPED} in {len(differ)} tensors, e.g. {differ[:3]}")
        return 1
    print(f"{trained} reproduces the shipped {SHIPPED} exactly")
    return 0


if __name__ == "__main__":
    sys.exit(main())
