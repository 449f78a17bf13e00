"""``experiments.bench_mix``: songs mixed in worker processes score as they do one at a time."""

from pathlib import Path

import numpy as np

from experiments.bench_mix import quality


def test_songs_mixed_in_workers_score_as_one_at_a_time(tiny_corpus: Path) -> None:
    sets, methods = {"tiny": str(tiny_corpus), "again": str(tiny_corpus)}, ("loudness", "reference")
    alone = quality(sets, songs_per_set=2, budget=3, jobs=1, methods=methods)
    pooled = quality(sets, songs_per_set=2, budget=3, jobs=2, methods=methods)
    assert list(pooled) == list(sets) and all(list(pooled[name]) == list(methods) for name in sets)
    for name in sets:
        for method in methods:
            for metric in ("mrstft_ratio", "lufs_error"):
                assert np.isclose(pooled[name][method][metric], alone[name][method][metric], rtol=1e-5, atol=1e-6)
    # Matching the reference's tone and loudness brings each mix closer to it than the neutral mix.
    assert 0.0 < alone["tiny"]["reference"]["mrstft_ratio"] < 1.0, alone
