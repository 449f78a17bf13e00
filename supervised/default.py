"""The default mixing model: the one ``mixenv mix`` and ``make run`` use, shipped in the package, and the one
command that reproduces it.

It is there on a fresh machine (``supervised/default_model.pt``, 2 MB: the whole network, backbone included, and
the features it reads; loading it needs nothing else). It is a ``cnn`` trained by :data:`RECIPE` on the default
synthetic corpus (built on first use) with the shipped default backbone (:mod:`mixenv.pretrain.default`). On the
same platform (CPU and torch build: :func:`~mixenv.fingerprint.platform`) the command gives identical weights, bit
for bit, from an empty data cache too: the corpus is built the same whatever the workers and the model is trained
with :data:`TRAIN_THREADS`, since the order of floating-point sums follows the thread count. Another CPU's kernels
round differently in the last bits, so there the weights differ and the validation losses agree to
:data:`VAL_LOSS_RTOL`. (The shipped weights themselves were trained on a backbone pretrained on their own machine,
before the backbone shipped, so a rerun now reproduces the record's fingerprints of the platforms it lists, not
them.) Beside the model ships its record
(``default_model.json``: the recipe, the best epoch, a fingerprint of the weights and the validation loss after
every epoch, and the first epoch as other platforms reproduced it), so a rerun can be checked epoch by epoch; the
tests rerun the first epoch from an empty data cache (a quarter of the time) and check that the shipped weights
are the recorded best epoch's:

    python -m supervised.default --out runs/default                 # train it again (4 minutes on 2 cores), compare
    python -m supervised.default --out runs/default --stop-after 1  # only the first epoch, against the record
    python -m supervised.default --out runs/default --stop-after 1 --add-platform  # record this CPU's fingerprint
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

from mixenv import fingerprint
from mixenv.checkpoint import shipped_file
from mixenv.data.atomic import atomic_path, write_json
from mixenv.engines import torch_threads
from mixenv.fingerprint import platform
from supervised.args import TrainArgs
from supervised.checkpoint import load_model
from supervised.run_state import epoch_column, epoch_weights, jsonable
from supervised.train import train

SHIPPED = Path(__file__).with_name("default_model.pt")
RECORD = SHIPPED.with_name("default_model.json")
"""The shipped model's training record: ``recipe``, ``best_epoch``, ``platform`` (:func:`platform`; absent in a
record made before it was kept), ``weights`` (each epoch's :func:`~mixenv.fingerprint.weights_digest`) and
``val_loss``, and ``platforms``: the first epochs as other platforms reproduced them (``platform``, ``weights``,
``val_loss``)."""
VAL_LOSS_RTOL = 0.03
"""How far a rerun's validation loss may stray, relatively, from the record's on a platform with no recorded
fingerprints: about twice what another CPU did to the first epoch's when each machine pretrained its own backbone
(an Intel Xeon with AVX512 against the recorded AMD EPYC with AVX2, 2026-12-05: 0.1211 against 0.1195, 1.4%; the
backbone's 500 pretraining steps grew last-bit differences into other weights). On the shipped backbone training
alone moves much less (2026-12-03, on one backbone: one torch thread instead of two, which reorders sums as another
CPU's kernels do, 1.3e-7 of itself; torch's portable kernels instead of AVX2, 3.2e-8), so the tolerance is now
generous; it stays until another CPU measures what training alone moves there."""
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
    remedy = "make it with python -m supervised.default --out runs/default --update, or pass a model of your own"
    return shipped_file(SHIPPED, "the default mixing model", remedy)


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


def reproduction_problems(run: Path) -> list[str]:
    """What keeps a run of the recipe from reproducing the shipped record, one line per epoch; empty if it does
    (:func:`mixenv.fingerprint.reproduction_problems`: bit for bit on a recorded platform, elsewhere each epoch a
    recorded run's or its validation loss within :data:`VAL_LOSS_RTOL` of the shipped run's, or else the first
    platform's that recorded that epoch)."""
    record = shipped_record()
    trained = _epochs(run)
    labels = [f"epoch {i}" for i in range(1, len(trained["weights"]) + 1)]
    runs = [record, *record.get("platforms", [])]
    return fingerprint.reproduction_problems(
        runs, trained, platform(), loss="val_loss", loss_name="validation loss", rtol=VAL_LOSS_RTOL, labels=labels
    )


def _epochs(run: Path) -> dict[str, Any]:
    """A run's record of its epochs, on this platform."""
    losses = [float(v) for v in epoch_column(run, "val_loss")]
    return {"platform": platform(), "weights": epoch_weights(run), "val_loss": losses}


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``python -m supervised.default``."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, required=True, help="run folder to train into")
    parser.add_argument("--stop-after", type=int, default=None, help="train only the first N epochs and compare them")
    action = parser.add_mutually_exclusive_group()
    action.add_argument("--update", action="store_true", help="replace the shipped model with the one trained")
    action.add_argument(
        "--add-platform",
        action="store_true",
        help="where this platform has no fingerprints in the record and the run agrees with it to the tolerance, "
        "record the run's epochs as this platform's, so later reruns here are checked bit for bit",
    )
    args = parser.parse_args(argv)
    if args.update and args.stop_after is not None:
        parser.error("--update ships a whole run; leave out --stop-after")
    run = reproduce(args.out, args.stop_after)
    trained = run / "model.pt"
    if args.update:
        with atomic_path(SHIPPED) as staged:
            shutil.copyfile(trained, staged)
        best = json.loads((run / "training.json").read_text(encoding="utf-8"))["best_epoch"]
        write_json(RECORD, {"recipe": jsonable(dataclasses.asdict(RECIPE)), "best_epoch": best, **_epochs(run)})
        print(f"{SHIPPED} is now {trained}; its record is {RECORD}")
        return 0
    problems = reproduction_problems(run) if RECORD.is_file() else ["(no shipped record)"]
    if problems:
        print(f"{run} does not reproduce the shipped model's record {RECORD}:", *problems, sep="\n  ")
        return 1
    if args.stop_after is None and (differ := differing_weights(trained, default_model_path())):
        print(f"{trained} differs from the shipped {SHIPPED} in {len(differ)} tensors, e.g. {differ[:3]}")
        if shipped_record().get("platform") == platform():
            return 1
        print(f"(as expected off the recording platform: the epochs agreed to {VAL_LOSS_RTOL:g})")
    if args.add_platform:
        record = shipped_record()
        known = [r.get("platform") for r in (record, *record.get("platforms", []))]
        if platform() not in known:
            write_json(RECORD, record | {"platforms": [*record.get("platforms", []), _epochs(run)]})
            print(f"recorded {platform()}'s epochs in {RECORD}")
    what = (
        "every epoch"
        if not args.stop_after
        else "its first epoch"
        if args.stop_after == 1
        else f"its first {args.stop_after} epochs"
    )
    print(f"{run} reproduces the shipped {SHIPPED}'s record on {platform()}: {what}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
