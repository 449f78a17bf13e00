"""The README's promises: its Python example runs, and its control tables cover the whole ParamSpace."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from mixenv.params import MASTER_CONTROLS, STEM_CONTROLS

README = Path(__file__).resolve().parent.parent / "README.md"


def _python_blocks() -> list[str]:
    return re.findall(r"```python\n(.*?)```", README.read_text(encoding="utf-8"), flags=re.S)


def test_readme_example_runs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    example = next(block for block in _python_blocks() if "build_corpus" in block)
    monkeypatch.chdir(tmp_path)
    namespace: dict = {}
    exec(compile(example, "README.md", "exec"), namespace)
    song, mix = namespace["song"], namespace["mix"]
    assert abs(mix - song.reference).max() < 1e-4
    assert namespace["mastered"].mix.shape == song.reference.shape


@pytest.mark.parametrize("control", [c.name for c in (*STEM_CONTROLS, *MASTER_CONTROLS)])
def test_readme_documents_every_control(control: str) -> None:
    assert f"| `{control}`" in README.read_text(encoding="utf-8")
