"""The synthetic corpus: layout, ground truth that reproduces the reference, determinism, atomic builds."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from mixenv import artifacts
from mixenv.data import DatasetError, list_songs, read_audio
from mixenv.data.corpus import CorpusConfig, corpus_songs, read_manifest
from mixenv.data.synth import corpus as corpus_module
from mixenv.data.synth.corpus import build_corpus
from mixenv.params import ROLES, ParamSpace
from mixenv.presets import load_preset
from mixenv.render import render


def test_layout_matches_the_documented_one(tiny_corpus: Path) -> None:
    manifest = read_manifest(tiny_corpus)
    assert manifest["config"]["songs"] == 6 and len(manifest["songs"]) == 6
    for entry in manifest["songs"]:
        folder = tiny_corpus / entry["name"]
        assert sorted(p.name for p in folder.iterdir()) == sorted(
            [f"{role}.wav" for role in ROLES] + ["reference.wav", "settings.json"]
        )


def test_render_of_the_ground_truth_reproduces_the_reference(tiny_corpus: Path) -> None:
    for ref in list_songs("synthetic", tiny_corpus):
        song = ref.load()
        assert song.settings is not None and song.reference is not None
        mix = render(song.stems, song.settings, song.sample_rate).mix
        np.testing.assert_allclose(mix, song.reference, atol=1e-4)


def test_stems_are_raw_and_the_reference_is_mixed(tiny_corpus: Path) -> None:
    song = list_songs("synthetic", tiny_corpus)[0].load()
    assert song.stems["vocals"].shape[0] == 1 and song.stems["bass"].shape[0] == 1
    assert song.stems["drums"].shape[0] == 2 and song.reference is not None and song.reference.shape[0] == 2
    assert song.duration_seconds == pytest.approx(3.0)
    assert np.max(np.abs(song.reference)) <= 10 ** (-1 / 20) + 1e-4  # the limiter's ceiling


def test_ground_truth_is_varied_and_inside_the_table(tiny_corpus: Path) -> None:
    space = ParamSpace()
    vectors = np.array(
        [
            load_preset(tiny_corpus / s.name / "settings.json", space).settings.normalized()
            for s in list_songs("synthetic", tiny_corpus)
        ]
    )
    assert np.all(np.abs(vectors) <= 1.0)
    assert np.all(vectors.std(axis=0)[: 4 * 9].mean() > 0.05)
    assert not np.allclose(vectors[0], space.neutral_vector(), atol=0.05)


def test_splits_are_disjoint_and_cover_the_corpus(tiny_corpus: Path) -> None:
    by_split = {split: {s.name for s in corpus_songs(tiny_corpus, split)} for split in ("train", "val", "test")}
    assert set.union(*by_split.values()) == {s.name for s in corpus_songs(tiny_corpus)}
    assert sum(len(v) for v in by_split.values()) == 6
    assert len(by_split["train"]) == 5 and len(by_split["test"]) == 1  # round(0.8 * 6), round(0.9 * 6) - 5


def _files(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def test_same_seed_gives_byte_identical_files_whatever_the_workers(tiny_corpus: Path, tmp_path: Path) -> None:
    again = build_corpus(tmp_path / "again", CorpusConfig(songs=6, seconds=3.0, seed=7), workers=2, progress=False)
    assert _files(again) == _files(tiny_corpus)


def test_other_seed_gives_other_songs(tmp_path: Path) -> None:
    a = build_corpus(tmp_path / "a", CorpusConfig(songs=1, seconds=2.0, seed=1), workers=1, progress=False)
    b = build_corpus(tmp_path / "b", CorpusConfig(songs=1, seconds=2.0, seed=2), workers=1, progress=False)
    assert not np.array_equal(
        read_audio(a / "song_0000" / "reference.wav"), read_audio(b / "song_0000" / "reference.wav")
    )


def test_interrupted_build_leaves_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    real = corpus_module._make_song

    def fail_on_second(index: int, **kwargs):
        if index == 1:
            raise KeyboardInterrupt
        return real(index, **kwargs)

    monkeypatch.setattr(corpus_module, "_make_song", fail_on_second)
    with pytest.raises(KeyboardInterrupt):
        build_corpus(tmp_path / "c", CorpusConfig(songs=3, seconds=2.0), workers=1, progress=False)
    assert list(tmp_path.iterdir()) == []


def test_a_corpus_is_built_once_into_the_data_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MIXENV_DATA", str(tmp_path))
    config = CorpusConfig(songs=1, seconds=2.0)
    folder = artifacts.corpus(config)
    assert folder.parent == tmp_path and (folder / "manifest.json").is_file()
    stamp = (folder / "manifest.json").stat().st_mtime_ns
    assert artifacts.corpus(config) == folder and (folder / "manifest.json").stat().st_mtime_ns == stamp


def test_manifest_of_another_version_is_refused(tiny_corpus: Path, tmp_path: Path) -> None:
    (tmp_path / "old").mkdir()
    manifest = json.loads((tiny_corpus / "manifest.json").read_text())
    (tmp_path / "old" / "manifest.json").write_text(json.dumps(manifest | {"version": 0}))
    with pytest.raises(DatasetError, match="build the corpus again"):
        list_songs("synthetic", tmp_path / "old")


def test_bad_configs_are_refused() -> None:
    with pytest.raises(ValueError, match="at least 1 song"):
        CorpusConfig(songs=0)
    with pytest.raises(ValueError, match="seconds"):
        CorpusConfig(seconds=0.1)
