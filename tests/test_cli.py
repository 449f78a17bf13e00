"""The `mixenv` command line: help, corpus and render, and errors that name the fix."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from mixenv.cli import main
from mixenv.data import read_audio
from mixenv.loudness import integrated_lufs

from conftest import tone


def test_help_lists_the_commands(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["--help"])
    assert exit_info.value.code == 0
    out = capsys.readouterr().out
    assert "corpus" in out and "render" in out


@pytest.mark.parametrize("command", ["corpus", "render", "mix"])
def test_each_command_explains_itself(command: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main([command, "--help"])
    assert "--" in capsys.readouterr().out


def test_the_command_offers_every_corpus_style() -> None:
    from mixenv import cli
    from mixenv.data.corpus import STYLES

    assert cli.STYLES == STYLES


def test_the_command_offers_every_engine() -> None:
    from mixenv import cli
    from mixenv.engines import ENGINES

    assert cli.ENGINES == ENGINES


def test_console_script_starts_without_heavy_imports() -> None:
    code = "import sys; from mixenv.cli import main; print('torch' in sys.modules, 'pedalboard' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split() == ["False", "False"]


def test_corpus_command_writes_the_layout(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "corpus"
    assert main(["corpus", "--songs", "2", "--seconds", "2", "--seed", "3", "--workers", "1", "--out", str(out)]) == 0
    assert (out / "manifest.json").is_file()
    assert {p.name for p in (out / "song_0001").iterdir()} == {
        "vocals.wav",
        "drums.wav",
        "bass.wav",
        "other.wav",
        "reference.wav",
        "settings.json",
    }
    assert "wrote 2 songs" in capsys.readouterr().out


def test_render_command_reproduces_a_corpus_reference(tiny_corpus: Path, tmp_path: Path) -> None:
    song = tiny_corpus / "song_0000"
    out = tmp_path / "mix.wav"
    assert (
        main(["render", str(song), "--settings", str(song / "settings.json"), "-o", str(out), "--bit-depth", "32"]) == 0
    )
    np.testing.assert_allclose(read_audio(out), read_audio(song / "reference.wav"), atol=1e-4)


def test_render_command_masters_to_a_target(tiny_corpus: Path, tmp_path: Path, capsys) -> None:
    song = tiny_corpus / "song_0001"
    args = ["render", str(song), "--settings", str(song / "settings.json"), "-o", str(tmp_path / "m.wav")]
    assert main([*args, "--target-lufs", "-12"]) == 0
    assert integrated_lufs(read_audio(tmp_path / "m.wav"), 22_050) == pytest.approx(-12.0, abs=0.2)
    assert "LUFS, peak -1.0 dBFS" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("setup", "message"),
    [
        ("missing_folder", "does not exist; pass the folder"),
        ("missing_preset", "preset .* does not exist"),
        ("bad_role", "--role expects FILE=ROLE"),
    ],
)
def test_render_errors_exit_2_with_the_fix(tmp_path: Path, capsys, write_song, setup: str, message: str) -> None:
    stems = write_song(tmp_path / "stems", {"vocals.wav": tone(440)})
    preset = tmp_path / "p.json"
    preset.write_text('{"format": "mixenv-preset", "version": 1}')
    args = {
        "missing_folder": ["render", str(tmp_path / "nope"), "--settings", str(preset), "-o", "x.wav"],
        "missing_preset": ["render", str(stems), "--settings", str(tmp_path / "none.json"), "-o", "x.wav"],
        "bad_role": ["render", str(stems), "--settings", str(preset), "-o", "x.wav", "--role", "vocals.wav"],
    }[setup]
    assert main(args) == 2
    err = capsys.readouterr().err
    assert "mixenv render: error:" in err
    assert re.search(message, err)
