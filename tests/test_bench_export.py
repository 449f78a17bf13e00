"""The export benchmark keeps its int8 model by the validation split, never the test split."""

from __future__ import annotations

from experiments.bench_export import choose_int8


def _row(name: str, int8: str | None, ms: float, val: float, test: float) -> dict:
    return {"name": name, "int8": int8, "network_ms": ms, "mrstft_change": test,
            "quality": {"val": {"mrstft_change": val}, "test": {"mrstft_change": test}}}  # fmt: skip


def test_the_int8_kept_is_the_fastest_within_budget_on_validation() -> None:
    rows = [
        _row("torch fp32", None, 10.0, 0.0, 0.0),
        _row("fast but worse on val", "static", 2.0, 0.05, 0.0),  # its test score must not rescue it
        _row("kept", "dynamic", 4.0, 0.01, 0.03),
        _row("slower", "static", 5.0, 0.0, 0.0),
    ]
    assert choose_int8(rows) == "kept"
    assert choose_int8(rows[:2]) is None
