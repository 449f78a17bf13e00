"""experiments.bench_read: the compressors' reading timed on one thread and on several."""

from __future__ import annotations

from experiments.bench_read import bench_read
from mixenv import dynamics


def test_the_reading_is_timed_on_one_thread_and_on_several_and_the_setting_restored() -> None:
    default = dynamics.READ_THREADS
    results = bench_read(seconds=0.5, rate=22_050, budget=8, repeats=1)  # raises if the two readings differ
    assert len(results) == 3 and results["reading s, 1 thread"] > 0
    assert results["speed-up"] > 0
    assert default == dynamics.READ_THREADS
