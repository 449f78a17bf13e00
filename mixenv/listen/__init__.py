"""A MUSHRA listening test (ITU-R BS.1534-3) of mixenv's mixing methods: ``mixenv listen make``, ``serve`` and
``analyze``.

* :mod:`mixenv.listen.stimuli`: the excerpts a page plays: cut, low-passed anchor, equal loudness, no clipping;
* :mod:`mixenv.listen.make`: mixes the songs and writes a test folder (stimuli, the page, test.json, key.json);
* :mod:`mixenv.listen.submission`: what a listener's ratings must look like, checked against test.json;
* :mod:`mixenv.listen.server`: serves the page and appends each valid submission to ratings.jsonl;
* :mod:`mixenv.listen.analyze`: post-screening, means with bootstrap intervals, paired tests, CSVs and a plot.

Only :mod:`mixenv.cli` imports this package: it sits on top of the mixing methods it compares.
"""

from mixenv.listen.layout import ListenError

__all__ = ["ListenError"]
