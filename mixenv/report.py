"""What a mix did, for people to look at: each stem's and the mix's spectrum and loudness over time before and after
the channel strips and bus, the reference beside them, and the settings as a table (``mixenv mix --report``).

:func:`mix_report` measures (a few numbers per third-octave band and per second, so a report of a long song is
small); :func:`plot_report` draws one PNG.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from mixenv.balance import SpectrumMeter
from mixenv.loudness import ShortTermMeter
from mixenv.params import STEM_CONTROLS, MixSettings
from mixenv.plots import save_figure

MIX = "mix"
REFERENCE = "reference"


@dataclass(frozen=True)
class TrackMeasures:
    """One signal's long-term spectrum and short-term loudness over time.

    Attributes:
        spectrum_db: Power per third-octave band (the report's ``band_hz``), in dB.
        loudness_lufs: Short-term loudness (3 s windows, 1 s hop) at the report's ``times``.
    """

    spectrum_db: np.ndarray
    loudness_lufs: np.ndarray


@dataclass(frozen=True)
class MixReport:
    """Before and after, per stem and for the mix, with the settings that made the difference.

    Attributes:
        band_hz: Third-octave band centres of the spectra.
        times: Centres of the loudness windows, in seconds.
        before: Each stem as it came, and ``"mix"``: the plain sum (neutral settings, unmastered).
        after: Each stem after its strip, and ``"mix"``: the finished master.
        reference: The reference's measures, if there was one (time axis: its own).
        reference_times: The reference's window centres.
        settings: The settings rendered.
        title: What the report is of (song, method).
    """

    band_hz: np.ndarray
    times: np.ndarray
    before: Mapping[str, TrackMeasures]
    after: Mapping[str, TrackMeasures]
    reference: TrackMeasures | None
    reference_times: np.ndarray | None
    settings: MixSettings
    title: str


class TrackMeter:
    """One track's :class:`TrackMeasures` from its audio fed block by block (a whole song never in memory)."""

    def __init__(self, sample_rate: int) -> None:
        self._spectrum = SpectrumMeter(sample_rate)
        self._loudness = ShortTermMeter(sample_rate)

    def add(self, audio: np.ndarray) -> TrackMeter:
        """Feed the next ``(channels, samples)`` block; returns the meter."""
        self._spectrum.add(audio)
        self._loudness.add(audio)
        return self

    def read(self) -> tuple[np.ndarray, np.ndarray, TrackMeasures]:
        """``(band_hz, times, measures)`` of everything fed so far."""
        bands, spectrum = self._spectrum.bands()
        times, loudness = self._loudness.loudness()
        return bands, times, TrackMeasures(spectrum, loudness)


def mix_report(
    before: Mapping[str, TrackMeter],
    after: Mapping[str, TrackMeter],
    settings: MixSettings,
    reference: TrackMeter | None = None,
    title: str = "",
) -> MixReport:
    """A finished mix's report from its meters.

    Args:
        before: Each role's stem as it came, and :data:`MIX`: the neutral mix (the plain sum, unmastered).
        after: Each role's stem after its strip (pan and fader included), and :data:`MIX`: the finished master.
        settings: The settings rendered.
        reference: The reference mix's meter (any length).
        title: What the report is of.
    """
    bands, times, _ = before[MIX].read()
    ref_times, ref = (None, None) if reference is None else reference.read()[1:]
    return MixReport(
        bands,
        times,
        {track: meter.read()[2] for track, meter in before.items()},
        {track: meter.read()[2] for track, meter in after.items()},
        ref,
        ref_times,
        settings,
        title,
    )


def settings_rows(settings: MixSettings, roles: tuple[str, ...]) -> tuple[list[str], list[list[str]]]:
    """The settings as a table in readable units: a row per role present, and the bus's shelves and compressor in
    the columns of the same names (its limiter is left out: the mastering to the target loudness sets the drive)."""
    headers = ["", *[c.name.replace("_db", " dB").replace("_hz", " Hz").replace("_", " ") for c in STEM_CONTROLS]]
    rows = [[role, *[_format(c.name, settings[f"{role}.{c.name}"]) for c in STEM_CONTROLS]] for role in roles]
    master = settings.master
    rows.append(
        [
            "bus",
            *[
                _format(c.name, master[f"master_{c.name}"]) if f"master_{c.name}" in master else ""
                for c in STEM_CONTROLS
            ],
        ]
    )
    return headers, rows


def _format(name: str, value: float) -> str:
    if name == "pan":
        return "C" if abs(value) < 0.005 else f"{'L' if value < 0 else 'R'}{abs(value) * 100:.0f}"
    if name.endswith("_hz"):
        return f"{value:.0f}"
    if name == "comp_ratio":
        return f"{value:.1f}:1"
    return f"{value:+.1f}"


def plot_report(report: MixReport, path: str | os.PathLike[str]) -> Path:
    """One PNG: per track a spectrum panel (before dashed, after solid, reference dotted behind the mix) and a
    loudness-over-time panel; the settings table underneath. Written atomically."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    tracks = [t for t in report.after if t != MIX] + [MIX]
    fig = plt.figure(figsize=(13, 2.3 * len(tracks) + 2.2))
    grid = fig.add_gridspec(len(tracks) + 1, 2, height_ratios=[*([1.0] * len(tracks)), 0.9])
    for row, track in enumerate(tracks):
        spectrum, loudness = fig.add_subplot(grid[row, 0]), fig.add_subplot(grid[row, 1])
        before, after = report.before[track], report.after[track]
        spectrum.semilogx(report.band_hz, before.spectrum_db, "--", color="0.5", label="before")
        spectrum.semilogx(report.band_hz, after.spectrum_db, color="C0", label="after")
        loudness.plot(report.times, before.loudness_lufs, "--", color="0.5", label="before")
        loudness.plot(report.times, after.loudness_lufs, color="C0", label="after")
        if track == MIX and report.reference is not None:
            spectrum.semilogx(report.band_hz, report.reference.spectrum_db, ":", color="C3", label="reference")
            loudness.plot(report.reference_times, report.reference.loudness_lufs, ":", color="C3", label="reference")
        top = max(float(np.max(before.spectrum_db)), float(np.max(after.spectrum_db)))
        spectrum.set_ylim(top - 70, top + 5)  # an empty lowest band reads -200 dB
        spectrum.set_ylabel(f"{track}\npower (dB)")
        loudness.set_ylabel("short-term LUFS")
        highest = max(float(np.max(line.get_ydata(), initial=-60.0)) for line in loudness.get_lines())
        loudness.set_ylim(max(-60.0, float(np.min(after.loudness_lufs, initial=-60.0)) - 6), highest + 3)
        for axis in (spectrum, loudness):
            axis.grid(alpha=0.3)
        if row == 0:
            spectrum.set_title("long-term spectrum (third octaves)")
            loudness.set_title("loudness over time (3 s windows)")
        if track == MIX:
            spectrum.set_xlabel("Hz")
            loudness.set_xlabel("seconds")
            spectrum.legend(fontsize=8, loc="lower left")
    table_axis = fig.add_subplot(grid[len(tracks), :])
    table_axis.axis("off")
    headers, rows = settings_rows(report.settings, tuple(t for t in tracks if t != MIX))
    table = table_axis.table(cellText=rows, colLabels=headers, loc="center", cellLoc="center")
    table.auto_set_font_size(False)
    table.set_fontsize(8)
    fig.suptitle(report.title)
    fig.tight_layout()
    return save_figure(fig, path)
