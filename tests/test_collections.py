"""MUSDB18-HQ and MedleyDB loaders on tiny trees built in their real layouts, and the split rules."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from mixenv.data import DatasetError, StemsError, list_songs, read_audio, write_audio
from mixenv.data.medleydb import role_for_instrument
from mixenv.data.splits import exact_split, hash_split

from conftest import SR, medley_song, noise, tone

MUSDB_SONGS = {"train": ["Artist A - Song One", "Actions - One Minute Smile"], "test": ["Artist B - Song Two"]}


@pytest.fixture
def musdb_root(tmp_path: Path) -> Path:
    root = tmp_path / "musdb18hq"
    for subset, names in MUSDB_SONGS.items():
        for i, name in enumerate(names):
            folder = root / subset / name
            folder.mkdir(parents=True)
            stems = {
                "vocals": tone(440 + i, 0.5, channels=2),
                "drums": noise(0.5, channels=2),
                "bass": tone(60, 0.5, channels=2),
                "other": noise(0.5, channels=2, seed=i + 1),
            }
            for role, audio in stems.items():
                write_audio(folder / f"{role}.wav", audio, SR)
            write_audio(folder / "mixture.wav", sum(stems.values()), SR)
    return root


def test_musdb_lists_songs_with_official_splits(musdb_root: Path) -> None:
    songs = {s.name: s.split for s in list_songs("musdb18hq", musdb_root)}
    assert songs == {"Artist A - Song One": "train", "Actions - One Minute Smile": "val", "Artist B - Song Two": "test"}
    assert [s.name for s in list_songs("musdb18hq", musdb_root, split="test")] == ["Artist B - Song Two"]


def test_musdb_song_loads_stems_and_mixture(musdb_root: Path) -> None:
    song = list_songs("musdb18hq", musdb_root, split="test")[0].load()
    assert song.roles == ("vocals", "drums", "bass", "other")
    assert song.source == "musdb18hq" and song.settings is None
    assert song.reference is not None
    np.testing.assert_allclose(song.reference, read_audio(musdb_root / "test" / "Artist B - Song Two" / "mixture.wav"))


def test_a_segment_reads_only_part_of_every_file(musdb_root: Path) -> None:
    ref = list_songs("musdb18hq", musdb_root, split="test")[0]
    assert ref.info().num_samples == SR // 2 and ref.info().sample_rate == SR
    whole, part = ref.load(), ref.load(segment=(1000, 2000))
    assert part.num_samples == 2000 and part.reference is not None
    np.testing.assert_array_equal(part.reference, whole.reference[:, 1000:3000])
    for role in whole.roles:
        np.testing.assert_array_equal(part.stems[role], whole.stems[role][:, 1000:3000])


def test_musdb_drops_a_silent_stem(musdb_root: Path) -> None:
    folder = musdb_root / "test" / "Artist B - Song Two"
    write_audio(folder / "vocals.wav", np.zeros((2, SR // 2), np.float32), SR)
    assert "vocals" not in list_songs("musdb18hq", musdb_root, split="test")[0].load().roles


def test_musdb_song_missing_a_file_is_refused(musdb_root: Path) -> None:
    (musdb_root / "train" / "Artist A - Song One" / "bass.wav").unlink()
    with pytest.raises(DatasetError, match=r"Song One lacks bass.wav; re-extract"):
        list_songs("musdb18hq", musdb_root)


@pytest.mark.parametrize("layout", ["missing", "empty"])
def test_musdb_bad_roots_are_refused(tmp_path: Path, layout: str) -> None:
    root = tmp_path / "musdb"
    if layout == "empty":
        root.mkdir()
    with pytest.raises(DatasetError, match="train/"):
        list_songs("musdb18hq", root)


def test_medleydb_maps_instruments_onto_roles_and_sums_them(tmp_path: Path) -> None:
    kick, snare = noise(0.5, seed=1), noise(0.5, seed=2)
    stems = [
        ("female singer", tone(440, 0.5)),
        ("kick drum", kick),
        ("snare drum", snare),
        ("electric bass", tone(60, 0.5)),
        ("violin", tone(660, 0.5)),
        ("theremin", tone(880, 0.5)),
    ]
    medley_song(tmp_path, "Band_Song", stems)
    song = list_songs("medleydb", tmp_path)[0].load()
    assert song.roles == ("vocals", "drums", "bass", "other")
    np.testing.assert_allclose(
        song.stems["drums"],
        read_audio(tmp_path / "Band_Song/Band_Song_STEMS/Band_Song_STEM_02.wav")
        + read_audio(tmp_path / "Band_Song/Band_Song_STEMS/Band_Song_STEM_03.wav"),
        atol=1e-6,
    )
    assert song.reference is not None and song.reference.shape == (2, SR // 2)


def test_medleydb_reads_metadata_from_the_repository_layout(tmp_path: Path) -> None:
    medley_song(tmp_path / "Audio", "Solo_Piece", [("piano", tone(220, 0.5))], metadata_dir=tmp_path / "Metadata")
    songs = list_songs("medleydb", tmp_path)
    assert [s.name for s in songs] == ["Solo_Piece"]
    assert songs[0].load().roles == ("other",)


def test_medleydb_song_without_metadata_is_refused(tmp_path: Path) -> None:
    medley_song(tmp_path, "Band_Song", [("piano", tone(220, 0.5))])
    (tmp_path / "Band_Song" / "Band_Song_METADATA.yaml").unlink()
    with pytest.raises(DatasetError, match=r"has no Band_Song_METADATA\.yaml"):
        list_songs("medleydb", tmp_path)


def test_medleydb_corrupt_metadata_is_refused(tmp_path: Path) -> None:
    medley_song(tmp_path, "Band_Song", [("piano", tone(220, 0.5))])
    (tmp_path / "Band_Song" / "Band_Song_METADATA.yaml").write_text("stems: [unclosed")
    with pytest.raises(StemsError, match="cannot read MedleyDB metadata"):
        list_songs("medleydb", tmp_path)[0].load()


def test_medleydb_empty_root_is_refused(tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match="holds no MedleyDB songs"):
        list_songs("medleydb", tmp_path)


@pytest.mark.parametrize(
    ("instrument", "component", "role"),
    [
        ("male rapper", "", "vocals"),
        ("drum machine", "", "drums"),
        ("double bass", "", "bass"),
        ("tuba", "bass", "bass"),
        ("tuba", "melody", "other"),
    ],
)
def test_medleydb_instrument_roles(instrument: str, component: str, role: str) -> None:
    assert role_for_instrument(instrument, component) == role


def test_hash_split_is_stable_disjoint_and_near_its_fractions() -> None:
    names = [f"song {i}" for i in range(2000)]
    first = {n: hash_split(n) for n in names}
    assert first == {n: hash_split(n) for n in reversed(names)}
    counts = Counter(first.values())
    assert counts["train"] == pytest.approx(1600, abs=80) and counts["test"] == pytest.approx(200, abs=45)


def test_exact_split_meets_its_fractions_and_depends_on_the_seed() -> None:
    names = [f"s{i}" for i in range(240)]
    split = exact_split(names, seed=0)
    assert Counter(split.values()) == {"train": 192, "val": 24, "test": 24}
    assert split != exact_split(names, seed=1)
    with pytest.raises(ValueError, match="summing to 1"):
        exact_split(names, 0, (0.5, 0.5, 0.5))
