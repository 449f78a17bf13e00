"""Scaling out on one machine: each engine's throughput as ratios measured in one run, and a projection to a cluster.

``python -m experiments.bench_scale [--corpus-songs 64] [--benchmark-songs 8] [--rl-steps 512] [--epochs 3]``

Measures, each against its single-worker baseline in the same run (absolute times on a shared machine mean little):

* corpus build (10 s songs at 22.05 kHz): local processes (1, 2) and Ray tasks (1, 2 CPUs; Ray started before the
  clock, as a cluster would be);
* benchmark scoring (``experiments.benchmark`` on songs of the corpus test split, every method, CMA-ES at 20
  renders): the same four engines;

both as the rate at the margin, from a run of a quarter of the items and one of all of them, so that starting the
workers (its own column) does not hide how fast they go;
* PPO env steps per second: SB3 with 1 env and with 2 in a SubprocVecEnv, RLlib with 1 and 2 env runners
  (embedding observations, 2 s training clips, one torch thread per process);
* supervised training: seconds per epoch with 1 process (2 threads) and 2 ``torchrun`` processes (1 thread each).

Then, from those figures, the projected wall time of a 10 000-song corpus and a 1 M-step PPO run on a 16-node
cluster, with its assumptions printed beside it. Writes ``outputs/bench_scale/results.json``.
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import datetime
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from mixenv import artifacts
from mixenv.artifacts import DEFAULT_CORPUS
from mixenv.data.atomic import write_json
from mixenv.data.corpus import CorpusConfig, corpus_songs
from mixenv.data.synth.corpus import build_corpus
from mixenv.engines import Engine, import_ray
from mixenv.table import format_table

ROOT = Path(__file__).resolve().parent.parent
ENGINES = {"local, 1 process": ("local", 1), "local, 2 processes": ("local", 2), "ray, 1 CPU": ("ray", 1)}
ENGINES["ray, 2 CPUs"] = ("ray", 2)
NODES, CORES_PER_NODE = 16, 16
"""The cluster of the projection: 16 nodes of 16 cores, one worker (env runner, task) per core."""


def _timed(run: Callable[[], object]) -> float:
    start = time.perf_counter()
    run()
    return time.perf_counter() - start


def _marginal(
    name: str, workers: int, sizes: tuple[int, int], run: Callable[[Engine, int], object]
) -> dict[str, float]:
    """Items per minute of ``run(engine, n)`` at the margin, ``(n2 - n1) / (t2 - t1)``, and the fixed cost of a
    run (its time beyond ``n1`` items at that rate: starting processes, importing, loading models) in seconds.

    Ray is started before the clock, as a cluster would be; its start is reported apart.
    """
    ray_start, seconds = 0.0, []
    if name == "ray":
        ray = import_ray()
        ray_start = _timed(lambda: ray.init(num_cpus=workers, include_dashboard=False, log_to_driver=False))
    try:
        for n in sizes:
            engine = Engine("ray") if name == "ray" else Engine(workers=workers)
            seconds.append(_timed(lambda engine=engine, n=n: run(engine, n)))
    finally:
        if name == "ray":
            ray.shutdown()
    rate = (sizes[1] - sizes[0]) / (seconds[1] - seconds[0])
    return {"rate": 60 * rate, "fixed s": seconds[0] - sizes[0] / rate, "ray start s": ray_start}


def _each_engine(sizes: tuple[int, int], run: Callable[[Engine, int], object]) -> dict[str, dict[str, float]]:
    return {label: _marginal(name, workers, sizes, run) for label, (name, workers) in ENGINES.items()}


def bench_corpus(songs: int) -> dict[str, Any]:
    """Corpus songs per minute on each engine (10 s songs at 22.05 kHz)."""

    sizes = []

    def build(engine: Engine, n: int) -> None:
        with tempfile.TemporaryDirectory() as tmp:
            built = build_corpus(
                Path(tmp) / "c", CorpusConfig(songs=n, seconds=10.0, seed=123), engine=engine, progress=False
            )
            sizes.append(sum(p.stat().st_size for p in built.rglob("*") if p.is_file()) / n)

    engines = _each_engine((songs // 4, songs), build)
    return {"unit": "songs/min", "engines": engines, "MB per song": max(sizes) / 1e6}


def bench_scoring(songs: int) -> dict[str, Any]:
    """Benchmark episodes per minute on each engine: every method (9 with the ground truth; CMA-ES at 20 renders)
    on test songs of the default corpus."""
    from experiments import benchmark

    corpus = artifacts.corpus()
    tests = corpus_songs(corpus, "test")[:songs]
    methods = 9

    def score(engine: Engine, n: int) -> None:
        with tempfile.TemporaryDirectory() as tmp:
            folder = Path(tmp) / "songs"
            folder.mkdir()
            for song in tests[:n]:
                (folder / song.name).symlink_to(corpus / song.name)
            argv = ["--songs", str(folder), "--seeds", "0", "--cmaes-budget", "20", "--out", f"{tmp}/out",
                    "--engine", engine.name, "--workers", str(engine.processes)]  # fmt: skip
            with open(os.devnull, "w") as quiet, contextlib.redirect_stdout(quiet), contextlib.redirect_stderr(quiet):
                benchmark.main(argv)
            assert len(list(Path(tmp, "out", "rows").rglob("*_seed0.json"))) == methods  # every method ran
        benchmark.set_env.cache_clear()  # every run makes its methods afresh, as the workers do
        benchmark.lineup.cache_clear()

    engines = _each_engine((max(1, songs // 4), songs), score)
    return {"unit": "episodes/min", "engines": {k: r | {"rate": r["rate"] * methods} for k, r in engines.items()}}


def bench_rl(steps: int) -> dict[str, Any]:
    """PPO env steps per second: SB3 with 1 and 2 (SubprocVecEnv) envs, RLlib with 1 and 2 env runners."""
    from agents.rllib import measure_throughput
    from agents.train import train

    rates = {}
    for n_envs in (1, 2):
        with tempfile.TemporaryDirectory() as tmp:
            run = train(
                "ppo",
                ["--total-timesteps", str(steps), "--n-envs", str(n_envs), "--eval-freq", "0", "--out", tmp,
                 "--algo-kwargs", f"n_steps={steps // (2 * n_envs)}", "batch_size=64", "--no-progress"],
            )  # fmt: skip
            with open(run / "progress.csv", newline="", encoding="utf-8") as file:
                fps = float(list(csv.DictReader(file))[-1]["time/fps"])
            rates[f"sb3, {n_envs} env{'s' * (n_envs > 1)}"] = {"rate": fps}
    for runners in (1, 2):
        measured = measure_throughput(runners, steps)
        rates[f"rllib, {runners} env runner{'s' * (runners > 1)}"] = {
            "rate": measured["steps_per_second"],
            "learner rate": measured["learner_steps_per_second"],
        }
    return {"unit": "env steps/s", "engines": rates}


def bench_ddp(epochs: int) -> dict[str, Any]:
    """Supervised training epochs per minute (after the first) with 1 process and 2 ``torchrun`` processes."""
    per_epoch = {}
    common = ["--epochs", str(epochs), "--clip-seconds", "3", "--patience", str(epochs), "--no-progress"]
    torchrun = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2"]
    for processes in (1, 2):
        launcher = [sys.executable] if processes == 1 else torchrun
        batch = 16 // processes  # per process: the same global batch of 16
        env = {**os.environ, "OMP_NUM_THREADS": str(max(1, (os.cpu_count() or 2) // processes))}  # all cores
        with tempfile.TemporaryDirectory() as tmp:
            command = [*launcher, "-m", "supervised.train", *common, "--batch-size", str(batch), "--out", f"{tmp}/run"]
            subprocess.run(command, cwd=ROOT, env=env, check=True, capture_output=True)
            with open(Path(tmp) / "run" / "history.csv", newline="", encoding="utf-8") as file:
                seconds = [float(row["seconds"]) for row in csv.DictReader(file)]
        rate = 60 * (len(seconds) - 1) / (seconds[-1] - seconds[0])
        per_epoch[f"torchrun, {processes} process{'es' * (processes > 1)}"] = {"rate": rate}
    return {"unit": "epochs/min", "engines": per_epoch}


DRIVER_MB_PER_S = 200.0
"""What the corpus driver is assumed to receive and write per second (network and disk), in the projection."""


def projection(results: dict[str, Any]) -> dict[str, Any]:
    """Projected minutes on :data:`NODES` x :data:`CORES_PER_NODE` cores from the rates measured here.

    Corpus: one worker's rate times the measured 2-worker efficiency (``rate(2) / (2 rate(1))``) per worker, nodes
    adding linearly, unless the driver, which writes every song, is slower (:data:`DRIVER_MB_PER_S`). PPO is
    synchronous: an iteration samples on every env runner (one per core, one core per node left to the learner),
    then learns on one learner, so the learner's measured rate adds its own time to the runners'.
    """
    workers = NODES * CORES_PER_NODE
    corpus = {label: r["rate"] for label, r in results["corpus"]["engines"].items()}
    corpus_eff = corpus["ray, 2 CPUs"] / (2 * corpus["ray, 1 CPU"])
    compute = 10_000 / (corpus["ray, 1 CPU"] * workers * corpus_eff)
    writing = 10_000 * results["corpus"]["MB per song"] / DRIVER_MB_PER_S / 60
    rl = results["rl"]["engines"]
    one, two = rl["rllib, 1 env runner"], rl["rllib, 2 env runners"]
    rl_eff = two["rate"] / (2 * one["rate"])
    sampling = 1 / (1 / one["rate"] - 1 / one["learner rate"])  # one runner's steps/s while it samples
    runners = workers - NODES
    ppo = 1_000_000 * (1 / (sampling * runners * rl_eff) + 1 / one["learner rate"]) / 60
    return {
        "10 000-song corpus (min)": max(compute, writing),
        "1 M-step PPO (min)": ppo,
        "assumptions": f"{NODES} nodes x {CORES_PER_NODE} cores, one Ray task or env runner per core; per-worker "
        f"rates as measured here with 1 worker times the 2-worker efficiency measured here ({corpus_eff:.2f} corpus, "
        f"{rl_eff:.2f} RLlib), nodes adding linearly. Corpus: {compute:.1f} min of compute, {writing:.1f} min for "
        f"the driver to write {results['corpus']['MB per song']:.1f} MB a song at {DRIVER_MB_PER_S:.0f} MB/s. PPO: "
        f"{runners} env runners sampling at {sampling:.1f} steps/s each, then one CPU learner at "
        f"{one['learner rate']:.0f} steps/s ({1_000_000 / one['learner rate'] / 60:.0f} of the minutes: a GPU "
        "learner or RLlib's num_learners would cut them)",
    }


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``python -m experiments.bench_scale``."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--corpus-songs", type=int, default=64, help="songs built per corpus engine (and a quarter)")
    parser.add_argument(
        "--benchmark-songs", type=int, default=8, help="test songs scored per benchmark engine (and a quarter)"
    )
    parser.add_argument("--rl-steps", type=int, default=512, help="PPO env steps per measurement")
    parser.add_argument("--epochs", type=int, default=3, help="supervised epochs per measurement (first one dropped)")
    parser.add_argument("--out", type=Path, default=Path("outputs/bench_scale"), help="where results.json goes")
    args = parser.parse_args(argv)
    print(f"machine: {os.cpu_count()} cores; corpus {DEFAULT_CORPUS.style}, {datetime.date.today()}")
    results = {
        "corpus": bench_corpus(args.corpus_songs),
        "scoring": bench_scoring(args.benchmark_songs),
        "rl": bench_rl(args.rl_steps),
        "ddp": bench_ddp(args.epochs),
    }
    rows = []
    for section, measured in results.items():
        base = next(iter(measured["engines"].values()))["rate"]
        for label, r in measured["engines"].items():
            rows.append([section, label, measured["unit"], r["rate"], r["rate"] / base, r.get("fixed s")])
    print(format_table(["what", "engine", "unit", "rate", "vs first", "fixed s"], rows, digits=2))
    results["projection"] = projection(results)
    for name, value in results["projection"].items():
        print(f"{name}: {value:.1f}" if isinstance(value, float) else f"{name}: {value}")
    write_json(args.out / "results.json", {"date": datetime.datetime.now(datetime.UTC).isoformat(), **results})
    print(f"wrote {args.out / 'results.json'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
