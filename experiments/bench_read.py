"""The compressors' reading (:func:`mixenv.dynamics.match_compressors`) on one thread and on several, as a ratio
measured in one run (absolute times on shared machines mean little).

A song of four noise stems whose reference compresses two of them is read from the neutral settings, alternately
with :data:`mixenv.dynamics.READ_THREADS` at 1 and at one thread per core (at most 8). Prints the median seconds
of each and their ratio, and checks that both read the same compressors.

Usage: ``python -m experiments.bench_read [--seconds 4] [--rate 22050] [--budget 60] [--repeats 3]``
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

import numpy as np

from mixenv import dynamics
from mixenv.params import ROLES, MixSettings, ParamSpace
from mixenv.render import Renderer

COMPRESSED = {"drums.comp_threshold_db": -30.0, "drums.comp_ratio": 6.0, "vocals.comp_threshold_db": -28.0,
              "vocals.comp_ratio": 4.0}  # fmt: skip


def bench_read(seconds: float, rate: int, budget: int, repeats: int) -> dict[str, float]:
    """Median seconds of a reading on one thread and on one per core, and their ratio; see the module docstring."""
    rng = np.random.default_rng(0)
    envelope = 0.5 + 0.5 * np.sin(np.linspace(0, 8 * np.pi, round(seconds * rate))) ** 2  # levels to compress
    stems = {role: (0.1 * envelope * rng.standard_normal((2, envelope.size))).astype(np.float32) for role in ROLES}
    renderer = Renderer(rate, ROLES)
    space = ParamSpace(ROLES)
    reference = renderer.render(stems, space.neutral().replace(COMPRESSED)).mix

    def read(threads: int) -> tuple[float, MixSettings]:
        dynamics.READ_THREADS = threads
        start = time.perf_counter()
        settings = dynamics.match_compressors(
            space.neutral(),
            lambda s: renderer.render(stems, s, return_stems=True).stems,
            reference,
            rate,
            budget=budget,
        )
        return time.perf_counter() - start, settings

    several = min(os.cpu_count() or 1, 8)
    default = dynamics.READ_THREADS
    times: dict[int, list[float]] = {1: [], several: []}
    readings = {}
    try:
        read(1)  # warm-up: first calls allocate
        for _ in range(repeats):
            for threads in times:  # alternating, so both see the same load
                elapsed, readings[threads] = read(threads)
                times[threads].append(elapsed)
    finally:
        dynamics.READ_THREADS = default
    if not np.array_equal(readings[1].normalized(), readings[several].normalized()):
        raise RuntimeError("the reading differs between one thread and several")
    one, many = statistics.median(times[1]), statistics.median(times[several])
    return {"reading s, 1 thread": one, f"reading s, {several} threads": many, "speed-up": one / many}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=4.0, help="length of the song read (an env clip's)")
    parser.add_argument("--rate", type=int, default=22_050, help="its sample rate")
    parser.add_argument("--budget", type=int, default=dynamics.READ_BUDGET, help="fits per reading")
    parser.add_argument("--repeats", type=int, default=3, help="timed readings per thread count (median is kept)")
    args = parser.parse_args()
    print(f"machine: {os.cpu_count()} cores")
    for name, value in bench_read(args.seconds, args.rate, args.budget, args.repeats).items():
        print(f"{name:30s} {value:8.3f}")


if __name__ == "__main__":
    main()
