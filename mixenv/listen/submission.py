"""What a listener's submission must hold, checked against the test it answers: the server refuses anything else,
and the analysis re-checks every line it reads (ratings.jsonl may have been edited by hand).

A submission: ``{"listener": "ana", "ratings": {"p1": {"3fa9c2": 87, ...}, ...}}``: a rating from 0 to 100 for
every condition of every page, and nothing else.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

from mixenv.listen.layout import ListenError

MAX_LISTENER_CHARS = 100


class SubmissionError(ListenError):
    """A submission that does not answer the test; the message says what is wrong, for the listener to read."""


def check_submission(payload: Any, pages: Mapping[str, Sequence[str]]) -> dict[str, Any]:
    """The submission ``payload`` with its listener id stripped and its ratings as floats.

    Args:
        payload: The decoded JSON.
        pages: Page id -> its condition ids (:func:`mixenv.listen.layout.page_conditions`).

    Raises:
        SubmissionError: If it is not an object of a listener id and ratings for exactly the test's pages and
            conditions, each a number from 0 to 100.
    """
    if not isinstance(payload, dict):
        raise SubmissionError("a submission must be a JSON object with 'listener' and 'ratings'")
    extra = sorted(set(payload) - {"listener", "ratings"})
    if extra:
        raise SubmissionError(f"unexpected fields {', '.join(map(repr, extra))}; send only 'listener' and 'ratings'")
    listener = payload.get("listener")
    if not isinstance(listener, str) or not listener.strip():
        raise SubmissionError("'listener' must be a non-empty name or id")
    if len(listener.strip()) > MAX_LISTENER_CHARS:
        raise SubmissionError(f"'listener' must be at most {MAX_LISTENER_CHARS} characters")
    ratings = payload.get("ratings")
    if not isinstance(ratings, dict):
        raise SubmissionError("'ratings' must be an object of page id -> {condition id: rating}")
    unknown = sorted(set(ratings) - set(pages))
    if unknown:
        raise SubmissionError(f"unknown pages {', '.join(map(repr, unknown))}; this test has {', '.join(pages)}")
    missing = [page for page in pages if page not in ratings]
    if missing:
        raise SubmissionError(f"pages {', '.join(missing)} are not rated; rate every page before submitting")
    return {"listener": listener.strip(), "ratings": {page: _page(page, ratings[page], pages[page]) for page in pages}}


def _page(page: str, rated: Any, conditions: Sequence[str]) -> dict[str, float]:
    if not isinstance(rated, dict):
        raise SubmissionError(f"ratings of page {page} must be an object of condition id -> rating")
    unknown = sorted(set(rated) - set(conditions))
    if unknown:
        raise SubmissionError(f"page {page} has no conditions {', '.join(map(repr, unknown))}")
    missing = [c for c in conditions if c not in rated]
    if missing:
        raise SubmissionError(f"page {page}: conditions {', '.join(missing)} are not rated; rate every one")
    checked = {}
    for condition in conditions:
        value = rated[condition]
        valid = isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)
        if not valid or not 0 <= value <= 100:
            raise SubmissionError(f"page {page}, condition {condition}: rating {value!r} is not a number from 0 to 100")
        checked[condition] = float(value)
    return checked
