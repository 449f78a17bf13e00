"""``python -m mixenv.pretrain``: pretrain a backbone on a corpus, save it, print its validation numbers."""

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
from mixenv.backbone import save_backbone
from mixenv.cliargs import HelpFormatter
from mixenv.data import DatasetError
from mixenv.data.corpus import corpus_songs
from mixenv.pretrain import DEFAULT_PRETRAIN, pretrain_backbone


def _report(training: dict[str, Any], out: Path, seconds: float) -> str:
    """What the CLI prints: where the checkpoint went, how long it took, and its validation numbers."""
    lines = [
        f"wrote {out}: {training['steps']} steps in {seconds:.0f} s (seed {training['seed']}, "
        f"corpus {training['corpus']}, {training['train_songs']} train / {training['val_songs']} val songs)",
        f"contrastive loss {training['loss_curve'][0]:.3f} -> {training['loss_curve'][-1]:.3f}",
    ]
    v = training.get("validation")
    if v is None:
        return "\n".join([*lines, "no validation songs: no validation numbers"])
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


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``python -m mixenv.pretrain``; returns the exit status."""
    parser = argparse.ArgumentParser(
        prog="python -m mixenv.pretrain",
        description="Pretrain the shared backbone, self-supervised, on mix style: every train song of the corpus is "
        "rendered under its ground-truth settings, perturbations of them and random settings; two time crops of one "
        "mix are a positive pair, all other crops (including the other mixes of the same song) are negatives "
        "(NT-Xent). Prints top-1 retrieval and a settings probe's R² on the val split, trained vs untrained. "
        "The defaults take about 3 minutes on 2 idle CPU cores; same seed, same weights.",
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
        "--out",
        type=Path,
        metavar="PATH",
        help="checkpoint to write, atomically (default: DATA/backbones/backbone-v<recipe>-<corpus folder>.pt, "
        "DATA being $MIXENV_DATA or ~/.cache/mixenv; for the default corpus that is the default backbone, which is "
        "replaced)",
    )
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="mixenv: %(message)s")
    try:
        config = replace(DEFAULT_PRETRAIN, steps=args.steps, seed=args.seed)
        corpus = args.corpus if args.corpus is not None else artifacts.corpus()
        out = args.out if args.out is not None else artifacts.backbone_path(corpus.name)
        start = time.perf_counter()
        checkpoint = pretrain_backbone(corpus_songs(corpus, "train"), config, val_songs=corpus_songs(corpus, "val"))
        save_backbone(out, checkpoint)
    except (DatasetError, ValueError) as err:
        print(f"mixenv.pretrain: error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("mixenv.pretrain: interrupted; nothing half-written was left behind", file=sys.stderr)
        return 130
    print(_report(checkpoint.training, out, time.perf_counter() - start))
    return 0


if __name__ == "__main__":
    sys.exit(main())
