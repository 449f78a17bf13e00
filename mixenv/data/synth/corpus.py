"""Building the embedded synthetic corpus: arranged, soundfont-rendered, coloured multitracks with known settings.

The layout it writes, and the code that reads it, are in :mod:`mixenv.data.corpus`. Song ``i`` draws everything
from ``numpy.random.default_rng([seed, i])``, so a corpus is byte-identical for a seed whatever the number of
workers or machines, and a song does not change when more songs are asked for. Each song is made in a private
temporary folder wherever its task runs (:mod:`mixenv.engines`: local processes or Ray tasks on a cluster) and
comes back as its files' bytes, which only this process writes: a worker that dies leaves no part of a song, and
the workers need no shared file system. The reference
is rendered from the stems as read back from their 16-bit files, so ``render(stems, settings)`` reproduces
``reference.wav`` to its 16-bit quantisation. The whole folder is written under a temporary name and renamed
when complete: an interrupted build leaves nothing behind.
"""

from __future__ import annotations

import functools
import os
import tempfile
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np

from mixenv.data.atomic import atomic_dir, write_json
from mixenv.data.audio import read_audio, write_audio
from mixenv.data.corpus import CORPUS_FORMAT, CORPUS_VERSION, MANIFEST, CorpusConfig
from mixenv.data.splits import exact_split
from mixenv.data.synth.styles import STYLES
from mixenv.engines import Engine, run_tasks
from mixenv.loudness import integrated_lufs, peak_dbfs
from mixenv.params import ROLES, ParamSpace
from mixenv.presets import save_preset
from mixenv.render import Renderer


def build_corpus(
    out: str | os.PathLike[str],
    config: CorpusConfig,
    *,
    workers: int | None = None,
    engine: Engine | None = None,
    progress: bool = True,
) -> Path:
    """Generate a corpus into ``out`` (which must not exist yet) and return its path.

    Args:
        out: Destination folder.
        config: What to generate.
        workers: Local processes to use (default: one per CPU core, at most 8), when ``engine`` is not given.
        engine: Where the songs are made (default: ``workers`` local processes); the files are the same on all.
        progress: Show a progress bar.

    Raises:
        MissingDependencyError: If a package the style needs is not installed (the message says how to install it).
    """
    out = Path(out)
    STYLES[config.style].requires()  # here, once, before anything is written, rather than in every worker
    engine = engine or Engine(workers=workers)
    names = [f"song_{i:04d}" for i in range(config.songs)]
    splits = exact_split(names, config.seed, config.fractions)
    summaries: list[dict[str, Any]] = [{} for _ in names]
    with atomic_dir(out) as tmp:
        make = functools.partial(_song_files, config=config)
        songs = run_tasks(
            make, range(config.songs), engine, desc=f"{config.style} corpus", unit="song", progress=progress
        )
        for index, (summary, files) in songs:
            (tmp / summary["name"]).mkdir()
            for name, data in files.items():
                (tmp / summary["name"] / name).write_bytes(data)
            summaries[index] = summary
        manifest = {
            "format": CORPUS_FORMAT,
            "version": CORPUS_VERSION,
            "config": asdict(config),
            "soundfont": STYLES[config.style].played_by(),
            "roles": list(ROLES),
            "songs": [{"name": s["name"], "split": splits[s["name"]], **s} for s in summaries],
        }
        write_json(tmp / MANIFEST, manifest)
    return out


def _song_files(index: int, config: CorpusConfig) -> tuple[dict[str, Any], dict[str, bytes]]:
    """Song ``index`` made in a private temporary folder: its manifest summary and its files' bytes by name."""
    with tempfile.TemporaryDirectory(prefix="mixenv-song-") as tmp:
        summary = _make_song(index, config=config, root=Path(tmp))
        folder = Path(tmp) / summary["name"]
        return summary, {p.name: p.read_bytes() for p in sorted(folder.iterdir())}


def _make_song(index: int, config: CorpusConfig, root: Path) -> dict[str, Any]:
    """Generate song ``index`` of ``config``'s style into ``root/<name>/`` and return its manifest summary."""
    name = f"song_{index:04d}"
    rng = np.random.default_rng([config.seed, index])
    rate = config.sample_rate
    draft = STYLES[config.style].draft(rng, config)
    folder = root / name
    for role, audio in draft.stems.items():
        write_audio(folder / f"{role}.wav", audio, rate)
    # Read the stems back so the reference is rendered from exactly what the files hold.
    stems = {role: read_audio(folder / f"{role}.wav") for role in draft.stems}
    space = ParamSpace(ROLES)
    settings = draft.prior(rng, stems, rate, space)
    reference = Renderer(rate, ROLES).render(stems, settings).mix
    write_audio(folder / "reference.wav", reference, rate)
    save_preset(folder / "settings.json", settings)
    return {
        "name": name,
        **draft.summary,
        "reference_lufs": round(integrated_lufs(reference, rate), 2),
        "reference_peak_dbfs": round(peak_dbfs(reference), 2),
        **draft.details,
    }
