"""Renderer and corpus speed, as ratios measured in one run (absolute times on shared machines mean little).

Prints:
  * the real-time factor of a 4-stem x 30 s render at 44.1 kHz (audio seconds per wall second);
  * reused boards vs boards rebuilt on every call, for 30 s songs and for 2 s env-sized clips;
  * the share of a render spent in the stems, the master bus and loudness normalisation;
  * corpus generation speed in songs per minute, with 1 worker and with one per core.

Usage: ``python -m experiments.bench_render [--repeats 5] [--corpus-songs 8]``
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from mixenv.data.corpus import CorpusConfig
from mixenv.data.synth.corpus import build_corpus
from mixenv.params import ROLES, ParamSpace
from mixenv.render import Renderer


def _median_seconds(fn: Callable[[], object], repeats: int) -> float:
    fn()  # warm-up: first calls allocate
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def _stems(seconds: float, sample_rate: int, seed: int = 0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    n = round(seconds * sample_rate)
    return {
        role: (0.05 * rng.standard_normal((1 if role in ("vocals", "bass") else 2, n))).astype(np.float32)
        for role in ROLES
    }


def bench_render(repeats: int) -> dict[str, float]:
    """Render timings and ratios; see the module docstring."""
    space = ParamSpace()
    rng = np.random.default_rng(1)
    settings = [space.to_physical(rng.uniform(-1, 1, space.size)) for _ in range(8)]
    results: dict[str, float] = {}
    for label, seconds, rate in (("30s@44.1k", 30.0, 44_100), ("2s@22.05k", 2.0, 22_050)):
        stems = _stems(seconds, rate)
        reused = Renderer(rate)
        calls = 8 if seconds < 10 else 1

        def with_reuse(stems=stems, reused=reused, calls=calls) -> None:
            for s in settings[:calls]:
                reused.render(stems, s)

        def with_rebuild(stems=stems, rate=rate, calls=calls) -> None:
            for s in settings[:calls]:
                Renderer(rate).render(stems, s)

        t_reuse = _median_seconds(with_reuse, repeats) / calls
        t_rebuild = _median_seconds(with_rebuild, repeats) / calls
        results[f"{label} render s"] = t_reuse
        results[f"{label} real-time factor"] = seconds / t_reuse
        results[f"{label} reuse speed-up vs rebuild"] = t_rebuild / t_reuse
    stems = _stems(30.0, 44_100)
    plain, normalized = Renderer(44_100), Renderer(44_100, target_lufs=-14.0)
    t_plain = _median_seconds(lambda: plain.render(stems, settings[0]), repeats)
    t_normalized = _median_seconds(lambda: normalized.render(stems, settings[0]), repeats)
    results["30s@44.1k LUFS-target render vs plain"] = t_normalized / t_plain
    return results


def bench_corpus(songs: int) -> dict[str, float]:
    """Corpus generation speed with one worker and with one per core (10 s songs at 22.05 kHz)."""
    results = {}
    config = CorpusConfig(songs=songs, seconds=10.0, seed=123)
    for workers in sorted({1, min(os.cpu_count() or 1, 8)}):
        with tempfile.TemporaryDirectory() as tmp:
            start = time.perf_counter()
            build_corpus(Path(tmp) / "c", config, workers=workers, progress=False)
            elapsed = time.perf_counter() - start
        results[f"corpus songs/min, {workers} worker(s)"] = 60 * songs / elapsed
    values = list(results.values())
    if len(values) == 2:
        results["corpus parallel speed-up"] = values[1] / values[0]
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=5, help="timed repetitions per measurement (median is kept)")
    parser.add_argument("--corpus-songs", type=int, default=8, help="songs generated for the corpus measurement")
    args = parser.parse_args()
    print(f"machine: {os.cpu_count()} cores")
    for name, value in {**bench_render(args.repeats), **bench_corpus(args.corpus_songs)}.items():
        print(f"{name:45s} {value:10.3f}")


if __name__ == "__main__":
    main()
