"""The ``classics`` training style: real compositions from music21 other than the evaluation sets' sources, played
and mixed as the training corpus is, and joined to the corpus's songs by ``supervised.train --more-data``."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from mixenv import artifacts
from mixenv.data import DatasetError, list_songs
from mixenv.data.corpus import CorpusConfig
from mixenv.data.synth import arrange, classics
from mixenv.data.synth.corpus import build_corpus
from mixenv.features import FeatureConfig
from mixenv.params import ParamSpace
from mixenv.render import Renderer
from supervised.train import load_training_data

pytest.importorskip("music21")

CONFIG = CorpusConfig(songs=5, seconds=3.0, seed=3, style="classics")


@pytest.fixture(scope="module")
def classics_corpus(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Five 3 s songs of the style, built once."""
    return build_corpus(tmp_path_factory.mktemp("classics") / "c", CONFIG, workers=1, progress=False)


def test_songs_are_real_pieces_never_by_the_evaluation_sets_sources(classics_corpus: Path) -> None:
    manifest = json.loads((classics_corpus / "manifest.json").read_text())
    assert manifest["soundfont"] == "TimGM6mb.sf2" and manifest["config"]["style"] == "classics"
    for entry in manifest["songs"]:
        composer = entry["piece"].split("/")[0]
        assert composer in classics.COMPOSERS[entry["group"]][0]
        assert composer != "bach" and "essen" not in entry["piece"].lower()
        assert "vocals" in entry["programs"] and 2 <= len(entry["programs"]) <= 4
        assert (entry["groove"] is None) == ("drums" not in entry["programs"])
    assert {s["split"] for s in manifest["songs"]} & {"train", "val"}  # trainable, unlike the evaluation sets


def test_references_reproduce_from_their_settings_under_the_training_prior(classics_corpus: Path) -> None:
    for ref in list_songs("synthetic", classics_corpus):
        song = ref.load()
        assert song.sample_rate == 22_050 and song.roles[0] == "vocals"
        mix = Renderer(song.sample_rate).render(song.stems, song.settings).mix
        np.testing.assert_allclose(mix, song.reference, atol=1e-4)  # 16-bit quantisation of the reference file
        for role, audio in song.stems.items():
            assert np.sqrt(np.mean(audio**2)) > 1e-3, f"{ref.name}/{role} is silent"


def test_groove_drums_play_at_a_tempo_their_groove_suits() -> None:
    rng = np.random.default_rng(0)
    for _ in range(5):
        part, tempo = arrange.groove_drums(rng, 4.0)
        assert part.is_drum and part.notes and 60.0 <= tempo <= 180.0
        assert all(0.0 <= n.start_seconds < n.end_seconds <= 4.0 for n in part.notes)


def test_more_data_joins_its_songs_to_the_corpus_for_training(tiny_corpus: Path, classics_corpus: Path) -> None:
    alone = load_training_data(tiny_corpus, ParamSpace(), FeatureConfig(), progress=False)
    joined = load_training_data(tiny_corpus, ParamSpace(), FeatureConfig(), more=[classics_corpus], progress=False)
    extra = sum(1 for s in list_songs("folder", classics_corpus) if s.split in ("train", "val"))
    assert joined.train.songs + joined.val.songs == alone.train.songs + alone.val.songs + extra
    assert str(classics_corpus) in joined.source and joined.train.names[: alone.train.songs] == alone.train.names


def test_more_data_by_name_builds_the_training_set_on_first_use(
    tiny_corpus: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MIXENV_DATA", str(tmp_path / "data"))
    monkeypatch.setattr(artifacts, "TRAINING_SETS", {"classics": replace(CONFIG, songs=2, fractions=(1, 0, 0))})
    alone = load_training_data(tiny_corpus, ParamSpace(), FeatureConfig(), progress=False)
    joined = load_training_data(tiny_corpus, ParamSpace(), FeatureConfig(), more=["classics"], progress=False)
    assert joined.train.songs + joined.val.songs == alone.train.songs + alone.val.songs + 2
    assert str(tmp_path / "data") in joined.source and (tmp_path / "data").is_dir()


def test_an_unknown_training_set_or_missing_folder_is_refused_by_name(tiny_corpus: Path, tmp_path: Path) -> None:
    with pytest.raises(KeyError, match="unknown training set 'nope'; the sets are classics"):
        artifacts.training_set("nope")
    with pytest.raises(DatasetError, match="nope does not exist"):
        load_training_data(tiny_corpus, ParamSpace(), FeatureConfig(), more=[tmp_path / "nope"], progress=False)
