"""The export benchmark keeps its int8 model by the selection songs, never the validation or test split."""

from __future__ import annotations

from experiments.bench_export import choose_int8


def _row(name: str, int8: str | None, ms: float, selection: float, test: float, val: float = 0.0) -> dict:
    return {"name": name, "int8": int8, "network_ms": ms, "mrstft_change": test,
            "quality": {"selection": {"mrstft_change": selection}, "val": {"mrstft_change": val},
                        "test": {"mrstft_change": test}}}  # fmt: skip


def test_the_int8_kept_is_the_fastest_within_budget_on_the_selection_songs() -> None:
    rows = [
        _row("torch fp32", None, 10.0, 0.0, 0.0),
        _row("fast but worse on selection", "static", 2.0, 0.05, 0.0),  # its test score must not rescue it
        _row("kept", "dynamic", 4.0, 0.01, 0.03, val=0.05),  # nor its validation split's sink it
        _row("slower", "static", 5.0, 0.0, 0.0),
    ]
    assert choose_int8(rows) == "kept"
    assert choose_int8(rows[:2]) is None
