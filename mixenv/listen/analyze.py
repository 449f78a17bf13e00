"""``mixenv listen analyze``: post-screening, per-method means with bootstrap intervals, paired tests, CSVs, a plot.

Following ITU-R BS.1534-3: listeners who rate the hidden reference below 90 on more than 15% of the pages are
excluded (they could not hear the reference among the conditions, so their other ratings say little); each
condition's mean rating gets a 95% confidence interval by a seeded bootstrap over its ratings; each pair of methods
is compared by a Wilcoxon signed-rank test over their ratings paired by listener and page, the p-values Holm-corrected
for the number of pairs.
"""

from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass
from itertools import combinations
from pathlib import Path

import numpy as np

from mixenv.data.atomic import atomic_path
from mixenv.listen.layout import (
    ANCHOR,
    HIDDEN_REFERENCE,
    RATINGS_FILE,
    ListenError,
    page_conditions,
    read_key,
    read_test,
)
from mixenv.listen.submission import SubmissionError, check_submission
from mixenv.plots import save_figure
from mixenv.table import format_table

REFERENCE_MIN = 90.0
MAX_MISSED_SHARE = 0.15
"""BS.1534-3's post-screening: a listener who rates the hidden reference below :data:`REFERENCE_MIN` on more than
this share of the pages is excluded."""
RESAMPLES = 10_000
ALPHA = 0.05


@dataclass(frozen=True)
class Rating:
    """One slider: who rated which condition of which page (and song) how."""

    listener: str
    page: str
    song: str
    method: str
    rating: float


@dataclass(frozen=True)
class ConditionSummary:
    """A condition's mean rating over the kept listeners' pages, with its 95% bootstrap interval."""

    method: str
    n: int
    mean: float
    ci_low: float
    ci_high: float


@dataclass(frozen=True)
class PairTest:
    """Wilcoxon signed-rank test of two methods over ratings paired by listener and page; ``p_holm`` corrected."""

    a: str
    b: str
    n: int
    median_difference: float
    p: float
    p_holm: float


@dataclass(frozen=True)
class Analysis:
    """Every rating, who post-screening excluded and why, and the summaries of the kept listeners' ratings."""

    ratings: list[Rating]
    excluded: dict[str, str]
    summary: list[ConditionSummary]
    pairs: list[PairTest]

    @property
    def listeners(self) -> list[str]:
        """Every listener, in the order they submitted."""
        return list(dict.fromkeys(r.listener for r in self.ratings))


def analyze(folder: Path, *, seed: int = 0, resamples: int = RESAMPLES) -> Analysis:
    """Read a test folder's ratings.jsonl and key.json, screen the listeners and summarise the rest.

    Raises:
        ListenError: If there are no ratings yet, a line of ratings.jsonl does not answer the test, or
            post-screening excludes every listener.
    """
    key = read_key(folder)
    ratings = _read_ratings(folder, key)
    excluded = screen(ratings)
    kept = [r for r in ratings if r.listener not in excluded]
    if not kept:
        reasons = "; ".join(f"{who}: {why}" for who, why in excluded.items())
        raise ListenError(f"post-screening excluded every listener ({reasons}); nothing is left to summarise")
    methods = [HIDDEN_REFERENCE, *key["methods"], ANCHOR]
    rng = np.random.default_rng(seed)
    summary = [_summarise(method, [r.rating for r in kept if r.method == method], rng, resamples) for method in methods]
    summary.sort(key=lambda s: -s.mean)
    return Analysis(ratings, excluded, summary, _pair_tests(kept, key["methods"]))


def screen(ratings: list[Rating]) -> dict[str, str]:
    """Listener -> why BS.1534-3's post-screening excludes them, for those it does."""
    excluded = {}
    for listener in dict.fromkeys(r.listener for r in ratings):
        references = [r.rating for r in ratings if r.listener == listener and r.method == HIDDEN_REFERENCE]
        missed = sum(rating < REFERENCE_MIN for rating in references)
        if missed > MAX_MISSED_SHARE * len(references):
            excluded[listener] = (
                f"rated the hidden reference below {REFERENCE_MIN:.0f} on {missed} of {len(references)} pages "
                f"({missed / len(references):.0%}; BS.1534-3 allows {MAX_MISSED_SHARE:.0%})"
            )
    return excluded


def holm(p_values: list[float]) -> list[float]:
    """Holm-Bonferroni adjusted p-values, in the order given: the i-th smallest times (m - i), made monotone."""
    order = np.argsort(p_values, kind="stable")
    adjusted = np.empty(len(p_values))
    running = 0.0
    for rank, index in enumerate(order):
        running = max(running, min(1.0, (len(p_values) - rank) * p_values[index]))
        adjusted[index] = running
    return adjusted.tolist()


def _read_ratings(folder: Path, key: dict) -> list[Rating]:
    path = folder / RATINGS_FILE
    if not path.is_file():
        raise ListenError(f"{path} does not exist: no listener has submitted yet; run `mixenv listen serve {folder}`")
    pages = page_conditions(read_test(folder))
    ratings, seen = [], set()
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        where = f"{path} line {number}"
        try:
            record = json.loads(line)
            submission = check_submission({k: v for k, v in record.items() if k != "received"}, pages)
        except (json.JSONDecodeError, AttributeError, SubmissionError) as err:
            raise ListenError(f"{where} is not a submission to this test ({err}); fix or delete that line") from err
        listener = submission["listener"]
        if listener.casefold() in seen:
            raise ListenError(f"{where} repeats listener {listener!r}; keep one of their submissions")
        seen.add(listener.casefold())
        for page, rated in submission["ratings"].items():
            names = key["pages"][page]["conditions"]
            song = key["pages"][page]["song"]
            ratings += [Rating(listener, page, song, names[c], value) for c, value in rated.items()]
    if not ratings:
        raise ListenError(f"{path} holds no submissions yet; run `mixenv listen serve {folder}`")
    return ratings


def _summarise(method: str, values: list[float], rng: np.random.Generator, resamples: int) -> ConditionSummary:
    data = np.asarray(values)
    means = data[rng.integers(0, len(data), (resamples, len(data)))].mean(axis=1)
    low, high = np.percentile(means, [2.5, 97.5])
    return ConditionSummary(method, len(data), float(data.mean()), float(low), float(high))


def _pair_tests(kept: list[Rating], methods: list[str]) -> list[PairTest]:
    from scipy.stats import wilcoxon

    by_method = {m: {(r.listener, r.page): r.rating for r in kept if r.method == m} for m in methods}
    tests = []
    for a, b in combinations(methods, 2):
        pairs = sorted(by_method[a])
        differences = np.array([by_method[a][k] - by_method[b][k] for k in pairs])
        p = float(wilcoxon(differences).pvalue) if np.any(differences) else 1.0
        tests.append((a, b, len(pairs), float(np.median(differences)), p))
    adjusted = holm([t[4] for t in tests])
    return [PairTest(*t, p_holm) for t, p_holm in zip(tests, adjusted, strict=True)]


def write_analysis(analysis: Analysis, out: Path) -> list[Path]:
    """Write ratings.csv (every rating, excluded listeners marked), summary.csv, pairs.csv and means.png to ``out``,
    each atomically; returns their paths."""
    rows = [[r.listener, r.page, r.song, r.method, r.rating, r.listener in analysis.excluded] for r in analysis.ratings]
    files = {
        "ratings.csv": (["listener", "page", "song", "method", "rating", "excluded"], rows),
        "summary.csv": (
            ["method", "n", "mean", "ci_low", "ci_high"],
            [[s.method, s.n, s.mean, s.ci_low, s.ci_high] for s in analysis.summary],
        ),
        "pairs.csv": (
            ["a", "b", "n", "median_difference", "p", "p_holm", "significant"],
            [[t.a, t.b, t.n, t.median_difference, t.p, t.p_holm, t.p_holm < ALPHA] for t in analysis.pairs],
        ),
    }
    written = []
    for name, (header, table) in files.items():
        text = io.StringIO()
        writer = csv.writer(text, lineterminator="\n")
        writer.writerow(header)
        writer.writerows(table)
        with atomic_path(out / name) as tmp:
            tmp.write_text(text.getvalue(), encoding="utf-8")
        written.append(out / name)
    return [*written, plot_means(analysis, out / "means.png")]


def plot_means(analysis: Analysis, path: Path) -> Path:
    """Each condition's mean rating with its 95% interval, on BS.1534-3's 0-100 scale and its five grades."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    summary = analysis.summary
    fig, ax = plt.subplots(figsize=(1.2 * len(summary) + 2.5, 4.2), layout="constrained")
    for edge in (20, 40, 60, 80):
        ax.axhline(edge, color="0.85", linewidth=0.8, zorder=0)
    for middle, grade in zip((10, 30, 50, 70, 90), ("bad", "poor", "fair", "good", "excellent"), strict=True):
        ax.text(len(summary) - 0.45, middle, grade, va="center", ha="right", fontsize=8, color="0.5")
    x = np.arange(len(summary))
    means = np.array([s.mean for s in summary])
    errors = np.array([[s.mean - s.ci_low for s in summary], [s.ci_high - s.mean for s in summary]])
    ax.errorbar(x, means, yerr=errors, fmt="o", capsize=5, color="tab:blue")
    ax.set_xticks(x, [s.method.replace("_", " ") for s in summary], rotation=20)
    ax.set_ylim(0, 103)
    ax.set_xlim(-0.5, len(summary) - 0.4)
    ax.set_ylabel("rating (mean, 95% bootstrap CI)")
    kept = len(analysis.listeners) - len(analysis.excluded)
    ax.set_title(f"MUSHRA ratings: {kept} listeners after post-screening")
    return save_figure(fig, path)


def format_analysis(analysis: Analysis) -> str:
    """The exclusions, the summary and the pair tests as text for the terminal."""
    lines = [f"listeners: {len(analysis.listeners)}, excluded by post-screening: {len(analysis.excluded)}"]
    lines += [f"  excluded {who}: {why}" for who, why in analysis.excluded.items()]
    rows = [[s.method, s.n, s.mean, s.ci_low, s.ci_high] for s in analysis.summary]
    lines += ["", format_table(["method", "n", "mean", "95% CI low", "high"], rows, digits=1, rule=True)]
    if analysis.pairs:
        rows = [
            [t.a, t.b, t.n, t.median_difference, f"{t.p:.3g}", f"{t.p_holm:.3g}", "yes" if t.p_holm < ALPHA else "no"]
            for t in analysis.pairs
        ]
        headers = ["a", "b", "n", "median a-b", "p (Wilcoxon)", "p (Holm)", f"significant at {ALPHA}"]
        lines += ["", format_table(headers, rows, digits=1, rule=True)]
    return "\n".join(lines)
