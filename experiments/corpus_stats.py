"""How varied the synthetic corpus is: tempo, keys, grooves, programs and the spread of ground-truth settings.

Usage: ``python -m experiments.corpus_stats [--corpus DIR] [--plot docs/corpus.png]`` (default: the default
corpus, built if missing). Prints a summary and writes a figure.
"""

from __future__ import annotations

import argparse
from collections import Counter
from pathlib import Path

import numpy as np

from mixenv import artifacts
from mixenv.data.corpus import read_manifest
from mixenv.params import MASTER_CONTROLS, ROLES, STEM_CONTROLS, ParamSpace
from mixenv.plots import save_figure
from mixenv.presets import load_preset


def _spread(values: list[float] | np.ndarray) -> str:
    v = np.asarray(values, dtype=float)
    return f"min {v.min():7.1f}  median {np.median(v):7.1f}  max {v.max():7.1f}  std {v.std():6.2f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--corpus", type=Path, default=None, help="corpus folder (default: the default corpus)")
    parser.add_argument("--plot", type=Path, default=Path("outputs/corpus.png"), help="where to write the figure")
    args = parser.parse_args()
    root = args.corpus or artifacts.corpus()
    songs = read_manifest(root)["songs"]
    space = ParamSpace(ROLES)
    settings = np.array([load_preset(root / s["name"] / "settings.json", space).settings.values for s in songs])

    print(f"{len(songs)} songs in {root}; splits {dict(Counter(s['split'] for s in songs))}")
    print(f"tempo (BPM)         {_spread([s['tempo_bpm'] for s in songs])}")
    print(f"reference (LUFS)    {_spread([s['reference_lufs'] for s in songs])}")
    keys = Counter(s["key"] for s in songs)
    print(f"keys: {len(keys)} distinct, {sum(v for k, v in keys.items() if 'minor' in k)} songs in minor")
    print(f"grooves: {dict(Counter(s['groove'] for s in songs).most_common())}")
    print(f"progressions: {len({tuple(s['progression']) for s in songs})} distinct")
    for role in ROLES:
        programs = Counter(name for s in songs for name in s["parts"][role])
        common = ", ".join(f"{k} ({v})" for k, v in programs.most_common(4))
        print(f"{role:7s} programs: {len(programs):2d} distinct; most common: {common}")
    print("\nground-truth settings, physical units, over all songs:")
    for role in ROLES:
        for c in STEM_CONTROLS:
            print(f"  {role + '.' + c.name:28s} {_spread(settings[:, space.index(f'{role}.{c.name}')])}")
    for c in MASTER_CONTROLS:
        print(f"  {c.name:28s} {_spread(settings[:, space.index(c.name)])}")
    _plot(songs, settings, space, args.plot)
    print(f"\nwrote {args.plot}")


def _plot(songs: list[dict], settings: np.ndarray, space: ParamSpace, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig = plt.figure(figsize=(14, 8))
    grid = fig.add_gridspec(2, 3, height_ratios=[1, 1.3])
    ax = fig.add_subplot(grid[0, 0])
    ax.hist([s["tempo_bpm"] for s in songs], bins=20, color="tab:blue")
    ax.set(title="tempo", xlabel="BPM", ylabel="songs")
    ax = fig.add_subplot(grid[0, 1])
    grooves = Counter(s["groove"] for s in songs).most_common()
    ax.barh([g for g, _ in grooves], [n for _, n in grooves], color="tab:orange")
    ax.set(title="drum groove", xlabel="songs")
    ax = fig.add_subplot(grid[0, 2])
    ax.hist([s["reference_lufs"] for s in songs], bins=20, color="tab:green")
    ax.set(title="reference loudness", xlabel="LUFS", ylabel="songs")
    ax = fig.add_subplot(grid[1, :])
    normalized = np.array([space.from_physical(v).normalized() for v in settings])
    labels = list(space.names)
    ax.boxplot(normalized, whis=(5, 95), showfliers=False)
    ax.set_xticks(range(1, len(labels) + 1), labels, rotation=90, fontsize=7)
    ax.axhline(0, color="grey", lw=0.5)
    ax.set(title="ground-truth settings, normalised to [-1, 1] (box: quartiles, whiskers: 5-95%)", ylim=(-1.05, 1.05))
    fig.tight_layout()
    save_figure(fig, path, dpi=90)


if __name__ == "__main__":
    main()
