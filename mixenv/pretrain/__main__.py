"""``python -m mixenv.pretrain``: pretrain a backbone on a corpus, save it, print its validation numbers, and for the
default recipe on the default corpus say whether it reproduces the shipped default backbone."""

from __future__ import annotations

import argparse
import logging
import sys
import time
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

from mixenv import artifacts
from mixenv.backbone import BackboneCheckpoint, save_backbone
from mixenv.cliargs import HelpFormatter
from mixenv.data import DatasetError
from mixenv.data.corpus import data_root
from mixenv.fingerprint import platform
from mixenv.pretrain import DEFAULT_PRETRAIN, PRETRAIN_VERSION, default, pretrain_on_corpus


def _report(training: dict[str, Any], out: Path, seconds: float) -> str:
    """What the CLI prints: where the checkpoint went, how long it took, and its validation numbers."""
    lines = [
        f"wrote {out}: {training['steps']} steps in {seconds:.0f} s (seed {training['seed']}, "
        f"corpus {training['corpus']}, {training['train_songs']} train / {training['val_songs']} val songs)",
        f"contrastive loss {training['loss_curve'][0]:.3f} -> {training['loss_curve'][-1]:.3f}",
    ]
    v = training.get("validation")
    if v is None:
        return "\n".join([*lines, "not validated (no validation songs, or a run's first steps only)"])
    crop = training["config"]["crop_seconds"]
    return "\n".join(
        [
            *lines,
            f"validation on {v['songs']} songs x {v['mixes_per_song']} mixes ({v['crops']} crops of {crop:g} s)"
            "                 trained  untrained",
            f"  top-1 retrieval: nearest crop is the same mix (chance {v['retrieval_chance']:.3f})"
            f"        {v['retrieval_top1']:7.3f}  {v['retrieval_top1_untrained']:9.3f}",
            f"  ridge probe of the normalised settings, R² (fit on {v['probe_train_mixes']} train mixes)"
            f"  {v['probe_r2']:7.3f}  {v['probe_r2_untrained']:9.3f}",
        ]
    )


def _default_out(corpus: Path, stop_after: int | None) -> Path:
    """Where a backbone pretrained on ``corpus`` goes by default: ``DATA/backbones/backbone-v<recipe>-<corpus
    folder>[-first<N>].pt``."""
    first = "" if stop_after is None else f"-first{stop_after}"
    return data_root() / "backbones" / f"backbone-v{PRETRAIN_VERSION}-{corpus.name}{first}.pt"


def _compare(checkpoint: BackboneCheckpoint) -> int:
    """Print whether a run of the default recipe reproduces the shipped backbone's record; the exit status."""
    problems = default.reproduction_problems(checkpoint)
    steps = checkpoint.training["steps"]
    if problems:
        print(f"does not reproduce the shipped backbone's record {default.RECORD}:", *problems, sep="\n  ")
        return 1
    how = "bit for bit" if default.shipped_record()["platform"] == platform() else f"to {default.LOSS_RTOL:g}"
    print(f"reproduces the shipped default backbone's record after {steps} steps on {platform()} ({how})")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``python -m mixenv.pretrain``; returns the exit status."""
    parser = argparse.ArgumentParser(
        prog="python -m mixenv.pretrain",
        description="Pretrain the shared backbone, self-supervised, on mix style: every train song of the corpus is "
        "rendered under its ground-truth settings, perturbations of them and random settings; two time crops of one "
        "mix are a positive pair, all other crops (including the other mixes of the same song) are negatives "
        "(NT-Xent). Prints top-1 retrieval and a settings probe's R² on the val split, trained vs untrained. "
        "The defaults take about 4 minutes on 2 idle CPU cores; same seed, same weights. mixenv ships the default "
        "recipe's backbone on the default corpus (mixenv/pretrain/default_backbone.pt); run with the defaults, this "
        "pretrains it again and says whether it reproduces the shipped one's record.",
        formatter_class=HelpFormatter,
    )
    parser.add_argument(
        "--steps", type=int, default=DEFAULT_PRETRAIN.steps, metavar="N", help="optimiser steps (default: %(default)s)"
    )
    parser.add_argument(
        "--seed",
        type=int,
        default=DEFAULT_PRETRAIN.seed,
        metavar="K",
        help="seeds the initial weights, mixes, batches and crops (default: %(default)s)",
    )
    parser.add_argument(
        "--corpus",
        type=Path,
        metavar="DIR",
        help="corpus folder (from `mixenv corpus --out DIR`); trains on its train split, validates on its val "
        "split (default: the default corpus, built on first use)",
    )
    parser.add_argument(
        "--stop-after",
        type=int,
        metavar="N",
        help="train only the first N steps, on the whole run's learning-rate schedule, without validation: the very "
        f"start of a whole run (with the defaults, {default.CHECKPOINTS[0]} is checked against the shipped record "
        "in about a minute)",
    )
    parser.add_argument(
        "--out",
        type=Path,
        metavar="PATH",
        help="checkpoint to write, atomically (default: DATA/backbones/backbone-v<recipe>-<corpus folder>.pt, "
        "-first<N> before .pt with --stop-after; DATA is $MIXENV_DATA or ~/.cache/mixenv); use it with "
        "backbone_path=PATH or --backbone-path PATH",
    )
    parser.add_argument(
        "--update",
        action="store_true",
        help="make the run the shipped default backbone and record it (the defaults only, a whole run; the first "
        f"{default.CHECKPOINTS[0]} steps are run again for the record)",
    )
    args = parser.parse_args(argv)
    if args.stop_after is not None and args.stop_after < 1:
        parser.error(f"--stop-after must be at least 1 step, got {args.stop_after}")
    try:
        recipe = replace(DEFAULT_PRETRAIN, steps=args.steps, seed=args.seed)
    except ValueError as err:
        parser.error(str(err))
    defaults = args.corpus is None and recipe == DEFAULT_PRETRAIN
    if args.update and (not defaults or args.stop_after is not None):
        parser.error("--update ships a whole run of the default recipe on the default corpus: leave out the others")
    logging.basicConfig(level=logging.INFO, format="mixenv: %(message)s")
    try:
        corpus = args.corpus if args.corpus is not None else artifacts.corpus()
        out = args.out if args.out is not None else _default_out(corpus, args.stop_after)
        start = time.perf_counter()
        if defaults:
            checkpoint = default.reproduce(corpus, args.stop_after)
        else:
            checkpoint = pretrain_on_corpus(corpus, recipe, stop_after=args.stop_after)
        save_backbone(out, checkpoint)
    except (DatasetError, ValueError) as err:
        print(f"mixenv.pretrain: error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("mixenv.pretrain: interrupted; nothing half-written was left behind", file=sys.stderr)
        return 130
    print(_report(checkpoint.training, out, time.perf_counter() - start))
    if args.update:
        default.update(checkpoint, default.reproduce(corpus, default.CHECKPOINTS[0]))
        print(f"{default.SHIPPED} is now {out}; its record is {default.RECORD}")
        return 0
    if defaults and checkpoint.training["steps"] in default.CHECKPOINTS:
        return _compare(checkpoint)
    return 0


if __name__ == "__main__":
    sys.exit(main())
