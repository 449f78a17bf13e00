"""Command-line plumbing every entry point shares: one help formatter and one dataclass-to-argparse bridge.

A typed arguments dataclass is the single description of a command (CleanRL style): each field's type and default,
and its ``metadata`` (``help``, optionally ``choices`` and ``metavar``), become one option. Booleans that default to
``False`` become ``--flag``; those that default to ``True`` become ``--no-flag``. ``tuple[str, ...]`` (or
``tuple[int, ...]``) fields take one or more words (numbers), ``dict[str, Any]`` fields take ``KEY=VALUE`` items
parsed as Python literals.
"""

from __future__ import annotations

import argparse
import ast
import dataclasses
from collections.abc import Sequence
from pathlib import Path
from typing import Any, TypeVar

T = TypeVar("T")

_SCALARS: dict[str, type] = {"int": int, "float": float, "str": str, "Path": Path}


class HelpFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """Appends each option's default to its help, unless the help already says what the default is."""

    def _get_help_string(self, action: argparse.Action) -> str | None:
        if action.help and "(default:" in action.help:
            return action.help
        return super()._get_help_string(action)


def parse_key_values(items: Sequence[str]) -> dict[str, Any]:
    """``["clip_seconds=2", "split=train"]`` -> ``{"clip_seconds": 2, "split": "train"}`` (values as Python literals).

    A value that is not a Python literal is kept as a string, so ``split=train`` needs no quotes.

    Raises:
        ValueError: For an item without ``=`` or with an empty key.
    """
    values: dict[str, Any] = {}
    for item in items:
        key, sep, raw = item.partition("=")
        if not sep or not key.strip():
            raise ValueError(f"expected KEY=VALUE items, got {item!r}")
        try:
            values[key.strip()] = ast.literal_eval(raw)
        except (ValueError, SyntaxError):
            values[key.strip()] = raw
    return values


def add_dataclass_arguments(parser: argparse.ArgumentParser, cls: type) -> None:
    """One option per field of the dataclass ``cls`` (see the module docstring for how types map to options)."""
    for f in dataclasses.fields(cls):
        flag = "--" + f.name.replace("_", "-")
        help_text = f.metadata.get("help", "")
        default = f.default_factory() if f.default_factory is not dataclasses.MISSING else f.default
        kind = str(f.type).removesuffix(" | None")
        if kind == "bool" and default is True:
            negative = "--no-" + f.name.replace("_", "-")
            parser.add_argument(negative, dest=f.name, action="store_false", help=f.metadata.get("no_help", help_text))
        elif kind == "bool":
            parser.add_argument(flag, action="store_true", help=help_text)
        elif kind.startswith("dict["):
            parser.add_argument(flag, nargs="*", default=[], metavar="KEY=VALUE", help=help_text)
        elif kind.startswith("tuple["):
            item = _SCALARS.get(kind.removeprefix("tuple[").split(",")[0], str)
            metavar = f.metadata.get("metavar", "NAME")
            parser.add_argument(flag, type=item, nargs="+", default=list(default), metavar=metavar, help=help_text)
        elif kind in _SCALARS:
            parser.add_argument(
                flag,
                type=_SCALARS[kind],
                default=default,
                choices=f.metadata.get("choices"),
                metavar=f.metadata.get("metavar"),
                help=help_text,
            )
        else:
            raise TypeError(f"{cls.__name__}.{f.name}: no command-line form for type {f.type!r}")


def dataclass_from_namespace(cls: type[T], namespace: argparse.Namespace) -> T:
    """Build ``cls`` from parsed options: ``KEY=VALUE`` lists become dicts, word lists tuples.

    Raises:
        ValueError: For a malformed ``KEY=VALUE`` item, or whatever ``cls`` refuses in its ``__post_init__``.
    """
    values = {}
    for f in dataclasses.fields(cls):  # type: ignore[arg-type]
        value = getattr(namespace, f.name)
        kind = str(f.type)
        if kind.startswith("dict["):
            try:
                value = parse_key_values(value)
            except ValueError as err:
                raise ValueError(f"--{f.name.replace('_', '-')}: {err}") from None
        elif kind.startswith("tuple["):
            value = tuple(value)
        values[f.name] = value
    return cls(**values)
