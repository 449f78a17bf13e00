"""The README's promises: its Python example runs, its control tables cover the whole ParamSpace, and every link
within the docs leads somewhere."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from mixenv.params import MASTER_CONTROLS, STEM_CONTROLS

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
DOCS = (README, *sorted((ROOT / "docs").glob("*.md")))


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


def _anchors(page: Path) -> set[str]:
    """The anchors GitHub gives ``page``'s headings: lower case, punctuation dropped, spaces as hyphens."""
    text = re.sub(r"```.*?```", "", page.read_text(encoding="utf-8"), flags=re.S)
    anchors: set[str] = set()
    for heading in re.findall(r"^#+ (.+)$", text, flags=re.M):
        anchor = re.sub(r"[^\w\- ]", "", heading.lower()).replace(" ", "-")
        anchors.add(
            anchor
            if anchor not in anchors
            else next(f"{anchor}-{i}" for i in range(1, 99) if f"{anchor}-{i}" not in anchors)
        )
    return anchors


@pytest.mark.parametrize("page", DOCS, ids=lambda page: page.name)
def test_every_link_within_the_docs_leads_somewhere(page: Path) -> None:
    text = re.sub(r"```.*?```", "", page.read_text(encoding="utf-8"), flags=re.S)
    broken = []
    for target in re.findall(r"\]\(([^)\s]+)\)", text):
        if re.match(r"[a-z]+://", target):
            continue  # the web: not checked offline
        file, _, anchor = target.partition("#")
        linked = (page.parent / file).resolve() if file else page
        if not linked.exists() or (anchor and linked.suffix == ".md" and anchor not in _anchors(linked)):
            broken.append(target)
    assert broken == []
