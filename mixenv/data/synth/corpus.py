"""Building the embedded synthetic corpus: arranged, soundfont-rendered, coloured multitracks with known settings.

The layout it writes, and the code that reads it, are in :mod:`mixenv.data.corpus`. Song ``i`` draws everything
from ``numpy.random.default_rng([seed, i])``, so a corpus is byte-identical for a seed whatever the number of
workers, and a song does not change when more songs are asked for. The reference
is rendered from the stems as read back from their 16-bit files, so ``render(stems, settings)`` reproduces
``reference.wav`` to its 16-bit quantisation. The whole folder is written under a temporary name and renamed
when complete: an interrupted build leaves nothing behind.
"""

from __future__ import annotations

import concurrent.futures
import functools
import multiprocessing
import os
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np
from tqdm.auto import tqdm

from mixenv.data.atomic import atomic_dir, write_json
from mixenv.data.audio import read_audio, write_audio
from mixenv.data.corpus import CORPUS_FORMAT, CORPUS_VERSION, MANIFEST, CorpusConfig
from mixenv.data.splits import exact_split
from mixenv.data.synth.styles import STYLES
from mixenv.loudness import integrated_lufs, peak_dbfs
from mixenv.params import ROLES, ParamSpace
from mixenv.presets import save_preset
from mixenv.render import Renderer


def build_corpus(
    out: str | os.PathLike[str], config: CorpusConfig, *, workers: int | None = None, progress: bool = True
) -> Path:
    """Generate a corpus into ``out`` (which must not exist yet) and return its path.

    Args:
        out: Destination folder.
        config: What to generate.
        workers: Processes to use; default: one per CPU core, at most 8.
        progress: Show a progress bar.

    Raises:
        MissingDependencyError: If a package the style needs is not installed (the message says how to install it).
    """
    out = Path(out)
    STYLES[config.style].requires()  # here, once, before anything is written, rather than in every worker
    workers = workers or min(os.cpu_count() or 1, 8)
    names = [f"song_{i:04d}" for i in range(config.songs)]
    splits = exact_split(names, config.seed, config.fractions)
    with atomic_dir(out) as tmp:
        make = functools.partial(_make_song, config=config, root=tmp)
        with tqdm(total=config.songs, desc=f"{config.style} corpus", unit="song", disable=not progress) as bar:
            if workers == 1:
                summaries = [_tick(bar, make(i)) for i in range(config.songs)]
            else:
                pool = concurrent.futures.ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn"))
                try:
                    summaries = [_tick(bar, s) for s in pool.map(make, range(config.songs), chunksize=2)]
                finally:  # on an interrupt, drop queued songs instead of waiting for them
                    pool.shutdown(wait=True, cancel_futures=True)
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


def _tick(bar: tqdm, summary: dict[str, Any]) -> dict[str, Any]:
    bar.update(1)
    return summary


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
