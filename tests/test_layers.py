"""The layering stays true: every import of the project's own code points down, and no modules import each other
in a circle, counting imports inside functions and under ``TYPE_CHECKING`` too (they only hide a circle).

Layers, lowest first; a module may import its own layer and those below, never a sibling or anything above:

| rank | layer | modules |
|---|---|---|
| 0 | core | ``mixenv`` itself, ``params``, ``render``, ``data``, ``features``, ``backbone``, ``clip``, ... |
| 1 | rewards, training | ``rewards.*``; ``mixenv.pretrain`` (backbone pretraining, above the core it trains) |
| 2 | artifacts | ``mixenv.artifacts``: the first-use builds |
| 3 | env | ``mixenv.env`` |
| 4 | agents, supervised | ``agents.*``; ``supervised.*`` |
| 5 | product | ``mixenv.cli``, ``mixenv.mixing``, ``mixenv.excerpts``, ``mixenv.pretrain.__main__`` |
| 6 | experiments | ``experiments.*`` |
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("mixenv", "rewards", "agents", "supervised", "experiments")
LAYERS: tuple[tuple[str, int, tuple[str, ...]], ...] = (
    # (layer, rank, module prefixes); the longest matching prefix decides.
    ("core", 0, ("mixenv",)),
    ("rewards", 1, ("rewards",)),
    ("training", 1, ("mixenv.pretrain",)),
    ("artifacts", 2, ("mixenv.artifacts",)),
    ("env", 3, ("mixenv.env",)),
    ("agents", 4, ("agents",)),
    ("supervised", 4, ("supervised",)),
    ("product", 5, ("mixenv.cli", "mixenv.mixing", "mixenv.excerpts", "mixenv.pretrain.__main__", "mixenv.listen")),
    ("experiments", 6, ("experiments",)),
)


def _modules() -> dict[str, Path]:
    """Every module of the project's packages by dotted name (a package by its own name)."""
    found = {}
    for package in PACKAGES:
        for path in (ROOT / package).rglob("*.py"):
            parts = path.relative_to(ROOT).with_suffix("").parts
            found[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return found


def _imports(name: str, path: Path, modules: dict[str, Path]) -> Iterator[str]:
    """The project modules that ``name`` imports, anywhere in its file."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join([*package.split(".")[: len(package.split(".")) - node.level + 1], base]).strip(".")
            targets = [f"{base}.{alias.name}" if f"{base}.{alias.name}" in modules else base for alias in node.names]
        else:
            continue
        for target in targets:
            while target and target not in modules:
                target = target.rpartition(".")[0]
            if target and target != name:
                yield target


def _layer(module: str) -> tuple[str, int]:
    matches = [
        (len(prefix), layer, rank)
        for layer, rank, prefixes in LAYERS
        for prefix in prefixes
        if module == prefix or module.startswith(prefix + ".")
    ]
    _, layer, rank = max(matches)
    return layer, rank


def _graph() -> dict[str, set[str]]:
    modules = _modules()
    return {name: set(_imports(name, path, modules)) for name, path in modules.items()}


def test_every_module_belongs_to_a_layer() -> None:
    assert all(_layer(module) for module in _graph())


def test_imports_only_point_down() -> None:
    wrong = []
    for module, targets in _graph().items():
        layer, rank = _layer(module)
        for target in sorted(targets):
            target_layer, target_rank = _layer(target)
            if target_rank > rank or (target_rank == rank and target_layer != layer):
                wrong.append(f"{module} ({layer}) imports {target} ({target_layer})")
    assert not wrong, "imports that point up or sideways:\n" + "\n".join(wrong)


def test_no_import_circles() -> None:
    graph = _graph()
    circles = [sorted(component) for component in _strongly_connected(graph) if len(component) > 1]
    assert not circles, f"modules that import each other in a circle: {circles}"


def _strongly_connected(graph: dict[str, set[str]]) -> list[set[str]]:
    """Tarjan's strongly connected components of a directed graph."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    components: list[set[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in graph.get(node, ()):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = set()
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.add(member)
                if member == node:
                    break
            components.append(component)

    for node in graph:
        if node not in index:
            visit(node)
    return components


def test_the_checker_finds_a_circle_and_an_upward_import() -> None:
    """The checks can fail: a planted circle and a planted upward import are caught."""
    assert [sorted(c) for c in _strongly_connected({"a": {"b"}, "b": {"a"}, "c": set()}) if len(c) > 1] == [["a", "b"]]
    assert _layer("mixenv.params")[1] < _layer("rewards.fad")[1] < _layer("mixenv.env")[1] < _layer("agents.train")[1]
    assert _layer("mixenv.pretrain.__main__") == ("product", 5) and _layer("mixenv.pretrain.bank") == ("training", 1)
