"""The one text-table printer: aligned columns, numbers at a fixed precision, missing values shown as -."""

from __future__ import annotations

import math

import pytest

from mixenv.table import format_table


def test_columns_are_aligned_and_numbers_rounded() -> None:
    text = format_table(["method", "mrstft"], [["neutral", 1.14444], ["cnn", 0.5]], title="test songs", rule=True)
    lines = text.splitlines()
    assert lines[0] == "test songs" and set(lines[2]) == {"-"}
    assert lines[1] == " method | mrstft" and lines[3] == "neutral |  1.144" and lines[4] == "    cnn |  0.500"
    assert len({len(line) for line in lines[1:]}) == 1


def test_missing_values_read_as_a_dash() -> None:
    assert format_table(["a", "b"], [[None, math.nan]], digits=1).splitlines()[1] == "- | -"


def test_a_row_of_the_wrong_length_is_refused() -> None:
    with pytest.raises(ValueError, match="2 cells for 3 columns"):
        format_table(["a", "b", "c"], [[1, 2]])
