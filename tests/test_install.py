"""``pip install .`` alone gives a working library: the wheel holds the packages (not ``experiments``), and in a
fresh virtual environment, without the Makefile, ``gymnasium.make("MixEnv-v0")`` mixes a folder of stems.

The fresh environment borrows this environment's installed dependencies (a ``.pth`` line), so nothing is
downloaded; ``pip install --no-index`` then fails if the wheel asks for anything they do not cover.
"""

from __future__ import annotations

import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest

from conftest import noise, tone

ROOT = Path(__file__).resolve().parent.parent

# Builds a wheel and a virtual environment: about 10 s. One xdist worker runs the module, so the wheel is built once
# and never by two workers at a time (setuptools builds in the checkout's build/, where two builds collide).
pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("install")]


def _run(*command: str | Path, cwd: Path | None = None) -> str:
    result = subprocess.run([str(c) for c in command], capture_output=True, text=True, cwd=cwd, timeout=600)
    assert result.returncode == 0, f"{' '.join(map(str, command))} failed:\n{result.stdout}\n{result.stderr}"
    return result.stdout


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    dist = tmp_path_factory.mktemp("dist")
    _run(sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "--quiet", "-w", dist, ROOT)
    return next(dist.glob("mixenv-*.whl"))


def test_the_wheel_holds_the_library_and_not_the_experiments(wheel: Path) -> None:
    names = zipfile.ZipFile(wheel).namelist()
    top = {name.split("/")[0] for name in names if "/" in name}
    assert {"mixenv", "rewards", "agents", "supervised"} <= top
    assert "experiments" not in top and "tests" not in top
    assert "supervised/default_model.pt" in names  # the default mixing model, there on a fresh machine
    assert {"mixenv/pretrain/default_backbone.pt", "mixenv/pretrain/default_backbone.json"} <= set(names)


def test_pip_install_alone_makes_the_env_on_a_folder_of_stems(wheel: Path, tmp_path: Path, write_song) -> None:
    venv = tmp_path / "venv"
    _run(sys.executable, "-m", "venv", "--without-pip", venv)
    python = venv / "bin" / "python"
    site = Path(_run(python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])").strip())
    (site / "borrowed_dependencies.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    _run(sys.executable, "-m", "pip", "--python", python, "install", "--no-index", "--quiet", wheel)
    stems = write_song(
        tmp_path / "stems" / "song",
        {
            "vocals.wav": tone(440, 3.0, 0.1),
            "bass.wav": noise(3.0, 0.05, seed=1),
            "mix.wav": tone(440, 3.0, 0.2, channels=2),
        },
    )
    script = f"""
import importlib.util, sys
import gymnasium as gym
import mixenv
env = gym.make("MixEnv-v0", data_source="folder", data_path={str(stems.parent)!r}, split=None, clip_seconds=2.0,
               reward_weights={{"fad": 0, "anomaly": 0}})
obs, info = env.reset(seed=0)
obs, reward, terminated, truncated, info = env.step(env.action_space.sample())
assert mixenv.__file__.startswith({str(venv)!r}), mixenv.__file__  # the wheel's copy, not the checkout
assert importlib.util.find_spec("experiments") is None
print(sorted(info["terms"]), bool(abs(reward) < 1e6))
print(sorted(m for m in sys.modules if "tinysoundfont" in m or m.startswith("mixenv.data.synth")))
from mixenv import artifacts
print(artifacts.backbone().training["steps"])  # the shipped backbone, from the wheel
"""
    out = _run(python, "-c", script, cwd=tmp_path).splitlines()
    assert out == ["['loudness', 'spectral'] True", "[]", "500"]
    assert "prepare" in _run(venv / "bin" / "mixenv", "--help")  # the console script is there
