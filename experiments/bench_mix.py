"""``mixenv mix``, measured: how well each method mixes, and what a whole song costs in time and memory.

1. Quality: every song of the corpus test split and of each out-of-domain evaluation set (``--songs`` of each)
   mixed by :func:`mixenv.mixing.mix` with ``model``, ``refine`` and ``cmaes`` (the two searches at the same
   ``--budget``) and with the neutral settings (``intensity=0``, mastered alike); the whole 10 s song scored
   against its reference: MRSTFT (auraloss-style multi-resolution STFT, :mod:`rewards.spectral`) as a ratio to the
   neutral mix's, and LUFS error. The issue's goal: ``refine`` at most 0.8x the better of the other two.
2. Cost: ``mixenv mix`` as a user runs it (a subprocess, so its peak memory is its own) on generated songs of 8
   stems at 44.1 kHz, 4 and 10 minutes long, and of 12 stems at 48 kHz, 10 minutes long: wall time and peak
   resident memory, and the 10-minute song's peak as a ratio to the 4-minute one's (memory that grows with the
   song's length shows there).

Usage: ``python -m experiments.bench_mix [--songs 8] [--budget 100] [--methods ...] [--jobs 1]
[--skip-quality | --skip-cost] [--out DIR]``
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context
from pathlib import Path

import numpy as np
import torch
from tqdm.auto import tqdm

from experiments.compare import TEST_SPLIT, evaluation_sets
from mixenv import artifacts
from mixenv.data import SongRef, list_songs, write_audio
from mixenv.data.atomic import write_json
from mixenv.loudness import integrated_lufs
from mixenv.mixing import mix
from mixenv.table import format_table
from rewards.spectral import SpectralDistance

METHODS = ("model", "refine", "cmaes")
STEM_NAMES = ("lead vocal", "backing vocal", "kick", "snare", "overheads", "bass", "piano", "guitar")
"""Eight files, two or three per role: what ``mixenv mix`` sums into each role's strip."""
MORE_STEM_NAMES = ("choir", "toms", "sub bass", "strings")
"""Four more, for the issue's 12-stem song."""


def score_song(ref: SongRef, budget: int, methods: tuple[str, ...] = METHODS) -> dict[str, tuple[float, float]]:
    """The song of ``ref``, mixed by each of ``methods``: method -> (MRSTFT as a ratio to the neutral mix's, LUFS
    error)."""
    song = ref.load()
    distance = SpectralDistance()
    neutral = distance.distance(mix(song, intensity=0.0, method="loudness").audio, song.reference)
    target = integrated_lufs(song.reference, song.sample_rate)
    scores = {}
    for method in methods:
        result = mix(song, method=method, budget=budget)
        scores[method] = (distance.distance(result.audio, song.reference) / neutral, abs(result.loudness_lufs - target))
    return scores


def quality(
    sets: dict[str, str], songs_per_set: int, budget: int, jobs: int = 1, methods: tuple[str, ...] = METHODS
) -> dict[str, dict[str, dict[str, float]]]:
    """Mean MRSTFT ratio to neutral and LUFS error per method on the first ``songs_per_set`` test songs of each set
    (name -> data path), the songs mixed ``jobs`` at a time (each in a worker of one torch thread, so the workers
    do not oversubscribe the cores; the same numbers as one at a time, to rounding)."""
    tasks = [
        (name, ref) for name, path in sets.items() for ref in list_songs("synthetic", path, "test")[:songs_per_set]
    ]
    refs = [ref for _, ref in tasks]
    score = functools.partial(score_song, budget=budget, methods=methods)
    with contextlib.ExitStack() as stack:
        if jobs > 1:
            pool = stack.enter_context(
                ProcessPoolExecutor(
                    jobs, mp_context=get_context("spawn"), initializer=torch.set_num_threads, initargs=(1,)
                )
            )
            scored = pool.map(score, refs)
        else:
            scored = map(score, refs)
        per_song = list(tqdm(scored, total=len(tasks), desc="mixing songs", unit="song"))
    results: dict[str, dict[str, dict[str, float]]] = {}
    for name in sets:
        rows = [scores for (set_name, _), scores in zip(tasks, per_song, strict=True) if set_name == name]
        results[name] = {
            m: {
                "mrstft_ratio": float(np.mean([r[m][0] for r in rows])),
                "lufs_error": float(np.mean([r[m][1] for r in rows])),
            }
            for m in methods
        }
    return results


def benchmark_sets() -> dict[str, str]:
    """Set name -> data path: the corpus's test split, then each out-of-domain evaluation set."""
    return {TEST_SPLIT: str(artifacts.corpus())} | {
        name: data["data_path"] for name, data in evaluation_sets().items() if name != TEST_SPLIT
    }


def write_stems(folder: Path, minutes: float, sample_rate: int = 44_100, stems: int = 8) -> Path:
    """A song of 8 or 12 generated stems (noise shaped into drums, tones with vibrato), ``minutes`` long."""
    rng = np.random.default_rng(0)
    n = round(minutes * 60 * sample_rate)
    t = np.arange(n) / sample_rate
    for k, name in enumerate((STEM_NAMES + MORE_STEM_NAMES)[:stems]):
        beat = (np.sin(2 * np.pi * (1 + k % 3) * t) > 0.6).astype(np.float32)
        audio = 0.05 * np.sin(
            2 * np.pi * (55 * (k + 1)) * t + 2 * np.sin(2 * np.pi * 5 * t)
        ) + 0.05 * beat * rng.standard_normal(n)
        write_audio(folder / f"{name}.wav", audio[None].astype(np.float32), sample_rate)
    return folder


def cost(minutes: float, method: str, work: Path, sample_rate: int = 44_100, count: int = 8) -> dict[str, float]:
    """Wall time and peak memory of ``mixenv mix`` on a generated song, in a subprocess of its own."""
    stems = work / f"song-{minutes:g}min-{count}x{sample_rate}"
    if not stems.is_dir():
        write_stems(stems, minutes, sample_rate, count)
    out = work / f"mix-{minutes:g}min-{count}x{sample_rate}-{method}.wav"
    command = [sys.executable, "-m", "mixenv.cli", "mix", str(stems), "-o", str(out), "--method", method, "--force"]
    script = (
        "import resource, subprocess, sys, time; t = time.perf_counter(); "
        "subprocess.run(sys.argv[1:], check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL); "
        "print(time.perf_counter() - t, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)"
    )
    seconds, peak_kib = subprocess.run(
        [sys.executable, "-c", script, *command], check=True, capture_output=True, text=True
    ).stdout.split()
    return {"seconds": float(seconds), "peak_mib": float(peak_kib) / 1024}


def costs_of(minutes: tuple[float, float]) -> dict[str, object]:
    """``mixenv mix``'s time and peak memory on generated songs of each of ``minutes`` (and a 12-stem 48 kHz one of
    the longer), printed, and the peak's growth from the shorter song to the longer."""
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        costs = {f"{m:g} min, {method}": cost(m, method, work) for m in minutes for method in ("model", "loudness")}
        costs[f"{minutes[1]:g} min, 12 stems at 48 kHz, model"] = cost(minutes[1], "model", work, 48_000, 12)
    short, long_ = (f"{m:g} min, model" for m in minutes)
    growth = costs[long_]["peak_mib"] / costs[short]["peak_mib"]
    cost_rows = [[k, v["seconds"], v["peak_mib"]] for k, v in costs.items()]
    print(format_table(["song, method", "seconds", "peak MiB"], cost_rows, digits=1))
    print(f"peak memory, {long_} / {short}: {growth:.2f} (goal: within 1.10)")
    return {"cost": costs, "memory_growth": growth}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--songs", type=int, default=8, help="songs of each set to mix (quality)")
    parser.add_argument("--budget", type=int, default=100, help="renders of each search")
    parser.add_argument("--minutes", type=float, nargs=2, default=(4.0, 10.0), help="song lengths for the cost")
    parser.add_argument(
        "--methods", nargs="+", choices=METHODS, default=list(METHODS), help="methods to mix with (quality)"
    )
    parser.add_argument("--jobs", type=int, default=1, help="songs mixed at once (quality; one per core at most)")
    parser.add_argument("--skip-quality", action="store_true", help="measure the cost only")
    parser.add_argument("--skip-cost", action="store_true", help="measure the quality only (timing needs an idle host)")
    parser.add_argument("--out", type=Path, default=Path("outputs/bench_mix"), help="results JSON")
    args = parser.parse_args()
    start = time.perf_counter()
    report: dict[str, object] = {"date": time.strftime("%Y-%m-%d"), "budget": args.budget}
    if not args.skip_quality:
        results = quality(benchmark_sets(), args.songs, args.budget, args.jobs, tuple(args.methods))
        report["quality"] = results
        rows = [[name, m, v["mrstft_ratio"], v["lufs_error"]] for name, per in results.items() for m, v in per.items()]
        print(format_table(["set", "method", "MRSTFT / neutral", "LUFS error"], rows))
        for name, per in results.items() if set(args.methods) == set(METHODS) else ():
            best_other = min(per["model"]["mrstft_ratio"], per["cmaes"]["mrstft_ratio"])
            ratio = per["refine"]["mrstft_ratio"] / best_other
            print(
                f"{name}: refine / the better of model and cmaes = {ratio:.3f} "
                f"(goal <= 0.8: {'met' if ratio <= 0.8 else 'not met'})"
            )
    if not args.skip_cost:
        report |= costs_of(args.minutes)
    write_json(args.out / "results.json", report)
    print(f"wrote {args.out / 'results.json'} ({(time.perf_counter() - start) / 60:.1f} min)")


if __name__ == "__main__":
    main()
