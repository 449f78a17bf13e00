"""The first-use builds: one module builds the corpus, the classics training set and the good-mix model (under the
shipped backbone), once each, saying so;
where building is not allowed a missing artefact names the command that builds it; reading data never needs the
corpus synthesiser, and a missing synthesiser says how to install it. (The env building the real defaults on a
user's first ``gymnasium.make`` is test_first_use.py.)"""

from __future__ import annotations

import logging
import subprocess
import sys
import threading
import time
from dataclasses import replace
from pathlib import Path

import pytest
import torch

from mixenv import artifacts
from mixenv.backbone import Backbone, BackboneCheckpoint, BackboneConfig, save_backbone
from mixenv.cli import main as cli_main
from mixenv.data import MissingDependencyError
from mixenv.data.atomic import atomic_path
from mixenv.data.corpus import CorpusConfig
from mixenv.data.synth.corpus import build_corpus
from mixenv.env import MixEnv
from mixenv.features import FeatureConfig
from rewards.goodmix import GOODMIX_VERSION

from conftest import SR

TINY_CORPUS = CorpusConfig(songs=6, seconds=7.0, seed=7)
"""Songs long enough for two of the good-mix model's 4 s clips each (its detector needs ten)."""
TINY_CLASSICS = CorpusConfig(songs=2, seconds=4.0, seed=7, fractions=(1, 0, 0), style="classics")


@pytest.fixture
def tiny_defaults(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty data cache whose defaults are tiny, the shipped backbone a small untrained one; returns its file."""
    monkeypatch.setenv("MIXENV_DATA", str(tmp_path / "data"))
    monkeypatch.setattr(artifacts, "DEFAULT_CORPUS", TINY_CORPUS)
    monkeypatch.setattr(artifacts, "TRAINING_SETS", {"classics": TINY_CLASSICS})
    torch.manual_seed(0)
    small = BackboneCheckpoint(Backbone(BackboneConfig(widths=(4, 8, 8, 16), embedding_dim=16)), FeatureConfig(), SR)
    shipped = save_backbone(tmp_path / "shipped" / "default_backbone.pt", small)
    monkeypatch.setattr(artifacts, "shipped_path", lambda: shipped)
    return shipped


def test_missing_artefacts_name_the_command_that_builds_them(tiny_defaults: Path) -> None:
    for build in (lambda: artifacts.corpus(build=False), lambda: artifacts.reward_models(build=False)):
        with pytest.raises(artifacts.MissingArtifactError, match="`mixenv prepare`"):
            build()
    with pytest.raises(artifacts.MissingArtifactError, match=r"synthetic corpus .* build it with `mixenv prepare`"):
        MixEnv(build_artifacts=False)


def test_a_given_backbone_file_that_is_missing_names_the_fix(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match=r"nope\.pt does not exist; write one with `python -m mixenv\.pretrain"):
        artifacts.backbone(tmp_path / "nope.pt")


def test_prepare_builds_each_artefact_once_and_says_so(
    tiny_defaults: Path, caplog: pytest.LogCaptureFixture, capsys: pytest.CaptureFixture[str]
) -> None:
    with caplog.at_level(logging.WARNING, logger="mixenv"):
        first = artifacts.prepare(progress=False)
    assert [p.name for p in first] == ["backbone", "synthetic corpus", "classics training set", "good-mix model"]
    assert [p.status for p in first] == ["shipped with mixenv", "built now", "built now", "built now"]
    assert first[0].path == tiny_defaults and all(p.path.exists() for p in first)
    building = [r.getMessage() for r in caplog.records if r.getMessage().startswith("building ")]
    assert len(building) == 3  # one line per artefact built: what, where, how long
    assert all("CPU cores" in line and "mixenv prepare" in line for line in building)
    assert cli_main(["prepare", "--no-progress"]) == 0  # everything is there now: nothing is built again
    out = capsys.readouterr().out
    assert out.count("already there") == 3 and out.count("shipped with mixenv") == 1
    checkpoint, model = artifacts.reward_models(build=False)
    assert checkpoint.module.embedding_dim == 16 and model.info["songs"] == {"synthetic": 5, "classics": 2}
    assert first[-1].path.parent == artifacts.data_root() / "goodmix"  # not beside the (read-only) shipped file
    _, info = MixEnv(clip_seconds=2.0, build_artifacts=False).reset(seed=0)  # found, not built
    assert set(info["terms"]) == {"spectral", "loudness", "fad", "anomaly"}


def test_two_builders_of_one_artefact_at_once_build_it_once(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    target, made = tmp_path / "data" / "artefact.bin", []

    def make() -> None:
        made.append(threading.get_ident())
        time.sleep(0.3)  # long enough for the other builder to arrive while this one builds
        with atomic_path(target) as tmp:
            tmp.write_bytes(b"built")

    # Threads open the lock file each for themselves, so they exclude each other as processes do.
    builders = [threading.Thread(target=artifacts._build, args=("a thing", target, "", make, True)) for _ in "ab"]
    with caplog.at_level(logging.WARNING, logger="mixenv"):
        for builder in builders:
            builder.start()
        for builder in builders:
            builder.join()
    assert len(made) == 1 and target.read_bytes() == b"built"  # the second found the first one's
    said = sorted(" ".join(r.getMessage().split()[:3]) for r in caplog.records)  # one line each, no other
    assert said == ["building a thing", "built a thing", "waiting for a"]
    assert sorted(p.name for p in target.parent.iterdir()) == [".artefact.bin.lock", "artefact.bin"]


def test_a_folder_in_the_default_corpus_place_without_its_manifest_is_not_taken_for_the_corpus(
    tiny_defaults: Path,
) -> None:
    folder = artifacts.default_corpus_path(TINY_CORPUS)
    folder.mkdir(parents=True)  # something else, or a corpus copied by hand without its manifest
    with pytest.raises(FileExistsError, match="already exists; delete it"):
        artifacts.corpus()


def test_a_missing_synthesiser_says_how_to_install_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setitem(sys.modules, "tinysoundfont", None)  # as if it were not installed
    with pytest.raises(MissingDependencyError, match=r"pip install --no-deps tinysoundfont==0\.3\.7"):
        build_corpus(tmp_path / "c", replace(TINY_CORPUS, songs=1), workers=1, progress=False)
    assert not (tmp_path / "c").exists()
    assert cli_main(["corpus", "--songs", "1", "--seconds", "2", "--out", str(tmp_path / "d")]) == 2
    assert "needs tinysoundfont" in capsys.readouterr().err


def test_reading_stems_never_imports_the_synthesiser(tmp_path: Path, write_song) -> None:
    from conftest import noise

    for i in range(2):
        write_song(tmp_path / f"song{i}", {"vocals.wav": noise(3.0), "bass.wav": noise(3.0, seed=1)})
    script = (
        "import sys, gymnasium as gym, mixenv\n"
        f"env = gym.make('MixEnv-v0', data_source='folder', data_path={str(tmp_path)!r}, split=None,\n"
        "               clip_seconds=2.0, reference_free=True, reward_weights={'fad': 0, 'anomaly': 0})\n"
        "env.reset(seed=0); env.step(env.action_space.sample())\n"
        "print(sorted(m for m in sys.modules if 'tinysoundfont' in m or m.startswith('mixenv.data.synth')))\n"
    )
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True, timeout=120)
    assert result.stdout.strip() == "[]"


def test_good_mix_model_path_is_keyed_by_checkpoint_content(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MIXENV_DATA", str(tmp_path / "data"))
    names = []
    for seed in (0, 1):
        torch.manual_seed(seed)
        path = save_backbone(tmp_path / "b.pt", BackboneCheckpoint(Backbone(), FeatureConfig(), SR))
        names.append(artifacts.good_mix_model_path(path))
    assert names[0] != names[1] and names[0].parent == names[1].parent == tmp_path / "data" / "goodmix"
    assert names[0].name.startswith(f"b.goodmix-v{GOODMIX_VERSION}-")
