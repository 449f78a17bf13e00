"""``torchrun`` data-parallel training (supervised.distributed) on the tiny corpus: two CPU processes over gloo."""

from __future__ import annotations

import csv
import dataclasses
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from supervised.args import TrainArgs
from supervised.checkpoint import load_model
from supervised.distributed import World
from supervised.train import train

ROOT = Path(__file__).resolve().parents[1]
VAL_LOSS_TOLERANCE = 0.05
"""Relative difference allowed between the val losses of 2 processes at batch B/2 and 1 process at batch B: each
process normalises its batch-norm statistics over its half of the batch, draws its own dropout and augmentation and
averages its loss over its own targets, so the runs differ a little (measured on these runs: at most 3.2% over 4 seeds
and 2 epochs, 2.6% for seed 0; without augmentation and dropout at most 1.7%), far less than another seed moves the
loss (0.072 to 0.121)."""
RUN_FILES = {"config.json", "model.pt", "last.pt", "history.csv", "per_param.csv", "training.json"}
RANKS_AGREE = """
import os
import sys

import torch
import torch.distributed as dist

from supervised import train as module

validate = module._validate
epochs = []


def validate_in_step(model, *args):
    epochs.append(1)
    if len(epochs) == int(os.environ.get("INTERRUPT_AT_EPOCH", 0)):
        raise KeyboardInterrupt
    result = validate(model, *args)
    state = torch.cat([t.detach().double().flatten() for t in model.state_dict().values()])
    states = [torch.empty_like(state) for _ in range(dist.get_world_size())]
    dist.all_gather(states, state)
    assert all(torch.equal(states[0], other) for other in states), "the ranks' weights differ"
    return result


module._validate = validate_in_step
sys.exit(module.main(sys.argv[1:]))
"""
"""``supervised.train``, failing if the ranks' weights or batch-norm statistics differ when they validate, and
interrupted as by Ctrl-C (on every rank) before validating epoch ``$INTERRUPT_AT_EPOCH``."""


@pytest.fixture(scope="module")
def args(tiny_corpus: Path, tiny_backbone: Path) -> TrainArgs:
    """2 epochs of 4 steps on 1 s clips at 2 clips per process; 4 songs train, 8 clips of 1 validate (2 batches)."""
    return TrainArgs(
        model="cnn",
        epochs=2,
        data_path=tiny_corpus,
        init_backbone=str(tiny_backbone),
        batch_size=2,
        clip_seconds=1.0,
        steps_per_epoch=4,
        val_clips=8,
        lr=3e-3,
        width=32,
        progress=False,
    )


def _command_line(args: TrainArgs) -> list[str]:
    return [
        "--model", args.model, "--epochs", str(args.epochs), "--out", str(args.out), "--data-path", str(args.data_path),
        "--init-backbone", args.init_backbone, "--batch-size", str(args.batch_size),
        "--clip-seconds", str(args.clip_seconds), "--steps-per-epoch", str(args.steps_per_epoch),
        "--val-clips", str(args.val_clips), "--lr", str(args.lr), "--width", str(args.width), "--no-progress",
        *(["--resume"] if args.resume else []),
    ]  # fmt: skip


def _torchrun(
    args: TrainArgs, script: Path | None = None, interrupt_at: int = 0, check: bool = True
) -> subprocess.CompletedProcess[str]:
    """``torchrun --standalone --nproc-per-node 2 -m supervised.train`` (or ``script``), one thread per process."""
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2"]
    program = ["-m", "supervised.train"] if script is None else [str(script)]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "OMP_WAIT_POLICY": "PASSIVE", "INTERRUPT_AT_EPOCH": str(interrupt_at)}
    done = subprocess.run(
        [*command, *program, *_command_line(args)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0 or not check, done.stdout + done.stderr
    return done


def _val_losses(run: Path) -> list[float]:
    with open(run / "history.csv", newline="") as file:
        return [float(row["val_loss"]) for row in csv.DictReader(file)]


def _weights(run: Path) -> dict[str, torch.Tensor]:
    return load_model(run).module.state_dict()


@pytest.mark.slow
def test_two_processes_train_like_one_at_the_same_global_batch_and_resume_exactly(
    args: TrainArgs, tmp_path: Path, one_thread: None
) -> None:
    """Three launches of 2 processes (about 20 s on 2 idle cores): a run, and a run interrupted and resumed."""
    script = tmp_path / "ranks_agree.py"
    script.write_text(RANKS_AGREE)
    run = dataclasses.replace(args, out=tmp_path / "ddp")
    done = _torchrun(run, script)
    assert {p.name for p in run.out.iterdir()} == RUN_FILES  # rank 0 alone wrote, and once
    assert done.stdout.count("trained cnn for 2 epochs (8 steps") == 1
    assert done.stderr.count("validating on its last 1 train songs") == 1  # rank 0 alone logs
    config = json.loads((run.out / "config.json").read_text())
    assert config["world_size"] == 2 and config["steps_per_epoch"] == 4

    single = train(dataclasses.replace(args, out=tmp_path / "single", batch_size=2 * args.batch_size))
    ddp, one = _val_losses(run.out), _val_losses(single.out)
    assert len(ddp) == len(one) == 2
    assert all(abs(a - b) <= VAL_LOSS_TOLERANCE * b for a, b in zip(ddp, one, strict=True)), (ddp, one)

    interrupted = dataclasses.replace(run, out=tmp_path / "interrupted")
    assert "continue the run with --resume" in _torchrun(interrupted, script, interrupt_at=2, check=False).stderr
    assert len(_val_losses(interrupted.out)) == 1
    resumed = _torchrun(dataclasses.replace(interrupted, resume=True))
    assert resumed.stdout.count("trained cnn for 2 epochs (8 steps") == 1
    expected, got = _weights(run.out), _weights(interrupted.out)
    assert all(torch.equal(expected[k], got[k]) for k in expected)
    with pytest.raises(ValueError, match="trained by 2 processes and cannot continue with 1"):
        train(dataclasses.replace(interrupted, epochs=3, resume=True))


def test_a_single_process_world_shares_nothing() -> None:
    world = World()
    assert world.main and not world.distributed
    assert world.shard([1, 2, 3]) == [1, 2, 3] and world.gather([4]) == [4] and world.mean(0.5) == 0.5
    assert World(1, 2).shard([0, 1, 2, 3, 4]) == [1, 3]
