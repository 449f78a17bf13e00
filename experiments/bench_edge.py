"""Real time, measured: does the streaming mixer keep up with the audio?

1. Block times: :class:`mixenv.stream.StreamingMixer` on generated stems (4 or 8 files, summed into the four role
   strips on the audio path, as ``mixenv mix`` sums them), blocks of 512 and 128 samples, at 44.1 and 48 kHz, 20 s
   of audio each, as fast as it goes: p50 / p99 / max of the wall time per block (the mixer and the estimator's
   share; making the test signal is not timed) as a share of the block's duration (1.0 = just keeping up). Goal:
   p99 at most 0.25 at 512 samples / 48 kHz / 8 stems.
2. A 3-minute 8-stem song at 48 kHz in 512-sample blocks, paced at real time as a player would (3 minutes of wall
   time), while the default model re-estimates the settings from the last 8 s every 4 s in a worker process
   (:class:`mixenv.stream.LiveEstimator`): xruns, blocks that took longer than they last. Goal: none.

Usage: ``python -m experiments.bench_edge [--seconds 20] [--song-minutes 3] [--out outputs/bench_edge]``
"""

from __future__ import annotations

import argparse
import multiprocessing
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
import torch

from mixenv.data.atomic import write_json
from mixenv.mixing import LiveEstimate
from mixenv.params import ROLES
from mixenv.stream import LiveEstimator, StreamingMixer, StreamStats, stream
from mixenv.table import format_table

ROLE_OF = ("vocals", "drums", "bass", "other", "vocals", "drums", "drums", "other")
"""The role of each generated stem: the first four cover every role, the next four double some up."""


def stem_blocks(stems: int, sample_rate: int, block: int, seconds: float) -> Iterator[dict[str, np.ndarray]]:
    """Blocks of ``stems`` generated files (tones with vibrato and noise), each summed into its role's block."""
    rng = np.random.default_rng(0)
    t = np.arange(block) / sample_rate
    for index in range(round(seconds * sample_rate / block)):
        now = index * block / sample_rate
        out: dict[str, np.ndarray] = {}
        for k in range(stems):
            tone = 0.1 * np.sin(2 * np.pi * 55 * (k + 1) * (now + t) + np.sin(2 * np.pi * 5 * (now + t)))
            audio = (tone + 0.05 * rng.standard_normal(block)).astype(np.float32)[None]
            role = ROLE_OF[k]
            out[role] = out[role] + audio if role in out else audio
        yield out


def block_times(stems: int, sample_rate: int, block: int, seconds: float) -> StreamStats:
    """The mixer alone on ``seconds`` of audio."""
    mixer = StreamingMixer(sample_rate, ROLES, block)
    return stream(stem_blocks(stems, sample_rate, block, seconds), mixer, lambda _: None)


def live_song(minutes: float) -> StreamStats:
    """A song at 48 kHz, 8 stems, 512-sample blocks, the default model re-estimating every 4 s."""
    worker = ProcessPoolExecutor(
        1, mp_context=multiprocessing.get_context("spawn"), initializer=torch.set_num_threads, initargs=(1,)
    )
    estimator = LiveEstimator(
        LiveEstimate("model"), 48_000, ROLES, window_seconds=8.0, every_seconds=4.0, executor=worker
    )
    try:
        mixer = StreamingMixer(48_000, ROLES, 512)
        blocks = stem_blocks(8, 48_000, 512, minutes * 60)
        return stream(blocks, mixer, lambda _: None, estimator=estimator, realtime=True)
    finally:
        estimator.close()
        worker.shutdown()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=20.0, help="audio per block-time measurement")
    parser.add_argument("--song-minutes", type=float, default=3.0, help="length of the song with live estimates")
    parser.add_argument("--out", type=Path, default=Path("outputs/bench_edge"), help="results JSON")
    args = parser.parse_args()
    torch.set_num_threads(1)  # the estimate gets one core; the audio path keeps the other
    sys.setswitchinterval(0.001)  # hand the interpreter back to the audio path within 1 ms of a Python step
    start = time.perf_counter()
    rows, results = [], {}
    for stems in (4, 8):
        for block in (512, 128):
            for rate in (44_100, 48_000):
                stats = block_times(stems, rate, block, args.seconds)
                key = f"{stems} stems, {block} samples, {rate / 1000:g} kHz"
                results[key] = {
                    "p50": stats.percentile(50),
                    "p99": stats.percentile(99),
                    "max": stats.percentile(100),
                    "xruns": stats.xruns,
                    "blocks": int(stats.block_seconds.size),
                }
                rows.append([key, *(results[key][k] for k in ("p50", "p99", "max")), stats.xruns])
    print(format_table(["stream", "p50 / block", "p99 / block", "max / block", "xruns"], rows, digits=3))
    goal = results["8 stems, 512 samples, 48 kHz"]["p99"]
    print(
        f"p99 at 512 samples / 48 kHz / 8 stems: {goal:.3f} of a block "
        f"(goal <= 0.25: {'met' if goal <= 0.25 else 'not met'})"
    )
    live = live_song(args.song_minutes)
    results["live"] = {
        "minutes": args.song_minutes,
        "p50": live.percentile(50),
        "p99": live.percentile(99),
        "max": live.percentile(100),
        "xruns": live.xruns,
        "estimates_applied": live.estimates_applied,
        "estimates_skipped": live.estimates_skipped,
    }
    print(
        f"{args.song_minutes:g}-minute song, 8 stems, 512 samples at 48 kHz, the model every 4 s: p99 "
        f"{live.percentile(99):.3f}, max {live.percentile(100):.3f} of a block, {live.xruns} xruns (goal: 0), "
        f"{live.estimates_applied} estimates applied, {live.estimates_skipped} skipped"
    )
    report = {"date": time.strftime("%Y-%m-%d"), "streaming": results}
    write_json(args.out / "results.json", report)
    print(f"wrote {args.out / 'results.json'} ({(time.perf_counter() - start) / 60:.1f} min)")


if __name__ == "__main__":
    main()
