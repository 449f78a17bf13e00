"""The default mixing model: the one ``mixenv mix`` and ``make run`` use, shipped in the package, and the one
command that reproduces it.

It is there on a fresh machine (``supervised/default_model.pt``, 2 MB: the whole network, backbone included, and
the features it reads; loading it needs nothing else). It is a ``cnn`` trained by :data:`RECIPE` on the default
synthetic corpus with the default pretrained backbone, both built on first use. The command gives identical
weights, bit for bit, from an empty data cache too: the corpus is built the same whatever the workers, the
backbone is pretrained with one torch thread (:data:`mixenv.artifacts.PRETRAIN_THREADS`) and the model trained with
:data:`TRAIN_THREADS`, since the order of floating-point sums follows the thread count. Beside the model ships its
record (``default_model.json``: the recipe, the best epoch and a fingerprint of the weights after every epoch), so
a rerun can be checked epoch by epoch; the tests rerun the first epoch from an empty data cache (a quarter of the
time) and check that the shipped weights are the recorded best epoch's:

    python -m supervised.default --out runs/default                 # train it again (4 minutes on 2 cores), compare
    python -m supervised.default --out runs/default --stop-after 1  # only the first epoch, against the record
    python -m supervised.default --out runs/default --update        # make the new one the shipped model

The recipe was chosen on validation data, never on the test sets: see the README's "Music it has never heard".
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import shutil
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch

from mixenv.data.atomic import atomic_path, write_json
from mixenv.engines import torch_threads
from supervised.args import TrainArgs
from supervised.checkpoint import load_model
from supervised.run_state import epoch_weights, jsonable
from supervised.train import train

SHIPPED = Path(__file__).with_name("default_model.pt")
RECORD = SHIPPED.with_name("default_model.json")
"""The shipped model's training record: ``recipe``, ``best_epoch`` and ``weights`` (each epoch's
:func:`~supervised.checkpoint.weights_digest`)."""
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


def reproduce(out: Path, stop_after: int | None = None) -> Path:
    """Train :data:`RECIPE` into ``out`` with :data:`TRAIN_THREADS` torch threads, all of it or its first
    ``stop_after`` epochs (the schedule is the whole recipe's either way); returns the run folder."""
    with torch_threads(TRAIN_THREADS):
        return train(dataclasses.replace(RECIPE, out=out, stop_after=stop_after)).out


def shipped_record() -> dict[str, Any]:
    """The shipped model's :data:`RECORD`."""
    return json.loads(RECORD.read_text(encoding="utf-8"))


def differing_epochs(run: Path) -> list[int]:
    """The epochs (from 1) of a run of the recipe whose weights differ from the shipped record's; empty if the
    run reproduces every epoch it trained."""
    recorded, trained = shipped_record()["weights"], epoch_weights(run)
    return [i for i, digest in enumerate(trained, start=1) if i > len(recorded) or recorded[i - 1] != digest]


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``python -m supervised.default``."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, required=True, help="run folder to train into")
    parser.add_argument("--stop-after", type=int, default=None, help="train only the first N epochs and compare them")
    parser.add_argument("--update", action="store_true", help="replace the shipped model with the one trained")
    args = parser.parse_args(argv)
    if args.update and args.stop_after is not None:
        parser.error("--update ships a whole run; leave out --stop-after")
    run = reproduce(args.out, args.stop_after)
    trained = run / "model.pt"
    if args.update:
        with atomic_path(SHIPPED) as staged:
            shutil.copyfile(trained, staged)
        best = json.loads((run / "training.json").read_text(encoding="utf-8"))["best_epoch"]
        write_json(RECORD, {"recipe": jsonable(dataclasses.asdict(RECIPE)), "best_epoch": best,
                            "weights": epoch_weights(run)})  # fmt: skip
        print(f"{SHIPPED} is now {trained}; its record is {RECORD}")
        return 0
    epochs = differing_epochs(run) if RECORD.is_file() else ["(no shipped record)"]
    if epochs:
        print(f"{run} differs from the shipped model's record {RECORD} at epochs {epochs}")
        return 1
    if args.stop_after is None and (differ := differing_weights(trained, default_model_path())):
        print(f"{trained} differs from the shipped {SHIPPED} in {len(differ)} tensors, e.g. {differ[:3]}")
        return 1
    what = f"its first {args.stop_after} epochs" if args.stop_after else "every epoch and the shipped weights"
    print(f"{run} reproduces the shipped {SHIPPED}: {what}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
