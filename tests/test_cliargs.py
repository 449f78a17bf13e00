"""The one dataclass-to-argparse bridge: each field type becomes the option a user expects."""

from __future__ import annotations

import argparse
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from mixenv.cliargs import HelpFormatter, add_dataclass_arguments, dataclass_from_namespace


@dataclass(frozen=True)
class _Args:
    steps: int = field(default=10, metadata={"help": "how many"})
    rate: float | None = field(default=None, metadata={"help": "a rate"})
    out: Path | None = field(default=None, metadata={"help": "where"})
    mode: str = field(default="a", metadata={"help": "which", "choices": ("a", "b")})
    names: tuple[str, ...] = field(default=("x",), metadata={"help": "names"})
    extra: dict[str, Any] = field(default_factory=dict, metadata={"help": "KEY=VALUE"})
    fast: bool = field(default=False, metadata={"help": "go fast"})
    progress: bool = field(default=True, metadata={"help": "show", "no_help": "hide the bar"})


def _parse(argv: list[str]) -> _Args:
    parser = argparse.ArgumentParser(formatter_class=HelpFormatter)
    add_dataclass_arguments(parser, _Args)
    return dataclass_from_namespace(_Args, parser.parse_args(argv))


def test_defaults_come_from_the_dataclass() -> None:
    assert _parse([]) == _Args()


def test_every_field_type_maps_to_its_option() -> None:
    argv = ["--steps", "3", "--rate", "0.5", "--out", "o", "--mode", "b", "--names", "p", "q",
            "--extra", "k=1", "s=word", "--fast", "--no-progress"]  # fmt: skip
    assert _parse(argv) == _Args(3, 0.5, Path("o"), "b", ("p", "q"), {"k": 1, "s": "word"}, True, False)


def test_bad_values_are_refused_with_the_option_named(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        _parse(["--mode", "c"])
    assert "invalid choice: 'c'" in capsys.readouterr().err
    with pytest.raises(ValueError, match="--extra: expected KEY=VALUE items, got 'k'"):
        _parse(["--extra", "k"])


def test_a_field_type_without_a_command_line_form_is_a_clear_error() -> None:
    @dataclass
    class Odd:
        value: list[int] = field(default_factory=list)

    with pytest.raises(TypeError, match=r"Odd\.value: no command-line form"):
        add_dataclass_arguments(argparse.ArgumentParser(), Odd)
