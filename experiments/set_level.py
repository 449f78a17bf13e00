"""Set-level numbers of a method's final mixes, the benchmark's columns beside its per-song means.

* ``kad``: Kernel Audio Distance (x1000, as kadtk reports it) between the backbone clip embeddings of a method's
  final mixes, one per song, and those of the same songs' references, as the paired U-statistic
  (:func:`rewards.fad.kernel_audio_distance` with ``paired=True``): 0 for the references themselves, larger as
  the mixes part from them. Sets with references only.
* ``fad_inf``: FAD-∞ of the mixes' pooled frame embeddings against the good-mix model's statistics (the FAD
  reward's reference, fitted on a large pool of good mixes): FAD over random subsets of the frames, extrapolated to
  infinitely many (:func:`rewards.fad.evaluate_fad`), as the field reports FAD; any set, from
  :data:`FAD_INF_MIN_SONGS` songs.

Lower is better for both. They are computed from a (set, method, seed)'s rows, each row's final settings rendered
again on its episode's clip, so rows cached by an earlier run, ``--reuse`` and every engine get them; and they are
cached beside the rows (``<method>_seed<k>.set.json``) while the rows' songs, seeds and settings stay the same.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from tqdm.auto import tqdm

from experiments.compare import slug
from mixenv.data.atomic import write_json
from mixenv.env import MixEnv
from rewards.base import ScoreContext
from rewards.fad import FADReward, evaluate_fad, kernel_audio_distance, mix_embeddings

SET_LEVEL = ("kad", "fad_inf")
"""The set-level columns, per (set, method, seed): lower is better."""
FAD_INF_MIN_SONGS = 8
"""Fewer songs give no FAD-∞ (too few distinct mixes behind the frames for a 128-dimensional Gaussian)."""

Part = tuple[str, str, int]
"""(set, method, seed)"""


def set_level(
    found: Mapping[Part, Sequence[dict[str, Any]]], envs: Mapping[str, MixEnv], keys: Mapping[str, str], out: Path
) -> dict[Part, dict[str, float | None]]:
    """The set-level numbers of each (set, method, seed) of ``found`` (None where too few songs): from its cache
    file beside its rows when that was made from the same rows, else computed and cached.

    Args:
        found: Each (set, method, seed)'s rows.
        envs: Each set's env (absolute actions), whose FAD term embeds the mixes.
        keys: Each set's env arguments as JSON (part of what the cache is checked against).
        out: The benchmark's output folder (its ``rows/``).
    """
    numbers: dict[Part, dict[str, float | None]] = {}
    todo: list[tuple[Part, Path, str]] = []
    for part, rows in found.items():
        set_name, method, seed = part
        if _fad_term(envs[set_name]) is None:
            continue
        path = out / "rows" / slug(set_name) / f"{slug(method)}_seed{seed}.set.json"
        fingerprint = _fingerprint(keys[set_name], rows)
        saved = json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}
        if saved.get("rows") == fingerprint:
            numbers[part] = {k: saved.get(k) for k in SET_LEVEL}
        else:
            todo.append((part, path, fingerprint))
    references: dict[tuple[str, str, int], np.ndarray] = {}  # (set, song, episode seed) -> its reference's embedding
    total = sum(len(found[part]) for part, _, _ in todo)
    with tqdm(total=total, desc="set-level KAD and FAD-∞", unit="mix", disable=not total) as bar:
        for part, path, fingerprint in todo:
            numbers[part] = final_mix_numbers(found[part], part[0], envs[part[0]], references, bar)
            write_json(path, {"rows": fingerprint, **numbers[part]})
    return numbers


def final_mix_numbers(
    rows: Sequence[dict[str, Any]],
    set_name: str,
    env: MixEnv,
    references: dict[tuple[str, str, int], np.ndarray],
    bar: tqdm,
) -> dict[str, float | None]:
    """``kad`` and ``fad_inf`` of one (set, method, seed)'s rows: each row's clip rendered under its final settings
    and embedded (``references`` keeps each song's reference embedding for the other methods)."""
    if not all("settings" in r and "episode_seed" in r for r in rows):
        logging.warning("%s: rows without final settings (run the method again); no set-level numbers", set_name)
        bar.update(len(rows))
        return dict.fromkeys(SET_LEVEL)
    base, term = env.unwrapped, _fad_term(env)
    assert term is not None  # set_level asks only where the env has one
    clips, frames, refs = [], [], []
    for row in rows:
        env.reset(seed=row["episode_seed"], options={"song": row["song"]})
        clip = base.clip
        settings, _ = base.space.sanitize(np.asarray(row["settings"], dtype=np.float32))
        mix = base.render_settings(base.space.from_clean(settings)).mix  # the mix env.step would make
        embedder = term.embedder.at_rate(clip.sample_rate)
        embedding, mix_frames = mix_embeddings(embedder, mix, ScoreContext(clip.sample_rate))
        clips.append(embedding)
        frames.append(mix_frames)
        if clip.reference is not None:
            song = (set_name, row["song"], row["episode_seed"])
            if song not in references:
                references[song] = mix_embeddings(embedder, clip.reference, ScoreContext(clip.sample_rate))[0]
            refs.append(references[song])
        bar.update()
    kad = None
    if len(refs) == len(clips) >= 2:
        kad = kernel_audio_distance(np.stack(clips), np.stack(refs), paired=True)
    fad_inf = None
    if len(rows) >= FAD_INF_MIN_SONGS:
        fad_inf = evaluate_fad(term.stats, np.concatenate(frames), seed=0).fad_inf
    return {"kad": kad, "fad_inf": fad_inf}


def _fad_term(env: MixEnv) -> FADReward | None:
    """The env's FAD reward term: its backbone embeds the mixes, its statistics are the good mixes'."""
    return next((t for t in env.unwrapped.reward.terms if isinstance(t, FADReward)), None)


def _fingerprint(key: str, rows: Sequence[dict[str, Any]]) -> str:
    """What the set-level numbers of ``rows`` depend on: the set's arguments and each row's song, seed, settings."""
    what = [key, [(r.get("song"), r.get("episode_seed"), r.get("settings")) for r in rows]]
    return hashlib.sha256(json.dumps(what).encode()).hexdigest()
