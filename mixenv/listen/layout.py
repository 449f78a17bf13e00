"""The files of a listening-test folder and how they are read back: the names the page, the server and the analysis
share, kept in one place.

A test folder (written by :func:`mixenv.listen.make.make_test`)::

    index.html  listen.js  style.css       # the page: plain HTML and JS, nothing loaded from the network
    test.json                              # what the page plays: pages, stimulus files, neutral condition ids
    stimuli/p1/reference.wav               # the visible reference of page 1
    stimuli/p1/3fa9c2.wav ...              # its conditions: hidden reference, anchor, one mix per method
    key.json                               # never served: condition id -> method, page -> song
    ratings.jsonl                          # never served: one listener's submission a line (mixenv listen serve)
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

TEST_FILE = "test.json"
KEY_FILE = "key.json"
RATINGS_FILE = "ratings.jsonl"
PAGE_FILES = ("index.html", "listen.js", "style.css")
"""The static page, shipped as package data in ``mixenv/listen/page/`` and copied into every test folder."""
PRIVATE_FILES = (KEY_FILE, RATINGS_FILE)
"""What the server refuses to send: they would tell a listener which condition is which, or what others rated."""
HIDDEN_REFERENCE = "hidden_reference"
ANCHOR = "anchor"
"""The names of the two conditions every page holds besides the methods, as key.json and the analysis call them."""
TEST_FORMAT = ("mixenv-listening-test", 1)
KEY_FORMAT = ("mixenv-listening-key", 1)


class ListenError(ValueError):
    """A listening test that cannot be made, served or analysed as asked; the message names the file and the fix."""


def read_test(folder: Path) -> dict[str, Any]:
    """The test.json of a test folder: what the page plays."""
    return _read(folder / TEST_FILE, TEST_FORMAT)


def read_key(folder: Path) -> dict[str, Any]:
    """The key.json of a test folder: which condition is which method, which page which song."""
    return _read(folder / KEY_FILE, KEY_FORMAT)


def page_conditions(test: dict[str, Any]) -> dict[str, list[str]]:
    """Page id -> its condition ids, in test.json's order."""
    return {page["id"]: [c["id"] for c in page["conditions"]] for page in test["pages"]}


def _read(path: Path, kind: tuple[str, int]) -> dict[str, Any]:
    fix = "pass a folder written by `mixenv listen make`"
    if not path.is_file():
        raise ListenError(f"{path} does not exist; {fix}")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise ListenError(f"{path} is not valid JSON ({err}); {fix} again") from err
    if not isinstance(data, dict) or (data.get("format"), data.get("version")) != kind:
        raise ListenError(f"{path} is not a version-{kind[1]} {kind[0].replace('-', ' ')} file; {fix}")
    return data
