"""The tree's own rules: no import cycles (function-level imports count), every package ships,
no module over 300 lines, and the server's start never reads training code."""

from __future__ import annotations

import ast
import subprocess
import sys
import tomllib
from collections.abc import Iterator
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
PACKAGES = {"server": "ghostwright.server", "indexer": "ghostwright.indexer",
            "training": "ghostwright.training"}  # fmt: skip
MAX_LINES = 300


def modules() -> dict[str, Path]:
    found = {}
    for folder, package in PACKAGES.items():
        for path in (REPO / folder).rglob("*.py"):
            parts = [p for p in path.relative_to(REPO / folder).with_suffix("").parts]
            found[".".join([package, *(p for p in parts if p != "__init__")])] = path
    return found


def imported(tree: ast.Module) -> Iterator[tuple[str, list[str]]]:
    """(module, names) of every absolute import, at any depth, outside `if TYPE_CHECKING:`
    (annotations only: they never run)."""
    typing_only = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            typing_only.update(id(inner) for part in node.body for inner in ast.walk(part))
    for node in ast.walk(tree):
        if id(node) in typing_only:
            continue
        if isinstance(node, ast.Import):
            yield from ((alias.name, []) for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            yield node.module, [alias.name for alias in node.names]


def import_graph() -> dict[str, set[str]]:
    known = modules()
    graph = {}
    for name, path in known.items():
        targets = set()
        for module, names in imported(ast.parse(path.read_text())):
            if module.startswith("ghostwright."):
                submodules = {f"{module}.{n}" for n in names} & known.keys()
                targets |= submodules or {module}
        graph[name] = (targets & known.keys()) - {name}
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for target in graph[node]:
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = []
            while not component or component[-1] != node:
                component.append(stack.pop())
            if len(component) > 1:
                found.append(sorted(component))

    for node in graph:
        if node not in index:
            visit(node)
    return found


def test_no_import_cycles():
    assert cycles(import_graph()) == []


# (importer, imported): the layers. The indexer knows nothing of the server or training; the
# server never imports training (its CLI names training commands by module path only); a
# backend only generates, so it knows nothing of the completion pipeline.
FORBIDDEN = [
    ("ghostwright.indexer", "ghostwright.server"),
    ("ghostwright.indexer", "ghostwright.training"),
    ("ghostwright.server", "ghostwright.training"),
    ("ghostwright.server.backends", "ghostwright.server.pipeline"),
]


def test_layers_import_only_downwards():
    crossing = [
        (module, target)
        for module, targets in import_graph().items()
        for target in targets
        for importer, imported in FORBIDDEN
        if module.startswith(importer) and target.startswith(imported)
    ]
    assert crossing == []


def test_the_cycle_finder_finds_one():
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_no_module_is_over_300_lines():
    long = {
        str(path.relative_to(REPO)): lines
        for path in modules().values()
        if (lines := len(path.read_text().splitlines())) > MAX_LINES
    }
    assert long == {}


def test_every_package_ships():
    """`pip install .` (the README's first command) installs only the packages listed."""
    listed = set(
        tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"]
    )
    packages = {name for name, path in modules().items() if path.name == "__init__.py"}
    assert packages - listed == set()


def run_listing_modules(words: list[str]) -> tuple[str, list[str]]:
    """Run `ghostwright WORDS` in a fresh interpreter: (what it printed, the training, torch
    and transformers modules it had loaded by the end)."""
    script = (
        "import sys\nfrom ghostwright.server.cli import main\n"
        f"try:\n    main({words!r})\nexcept SystemExit:\n    pass\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('torch', 'transformers')"
        " or m.startswith('ghostwright.training')))"
    )
    run = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=300
    )
    printed, _, loaded = run.stdout.rstrip("\n").rpartition("\n")
    return printed, ast.literal_eval(loaded)


def loaded_after(words: list[str]) -> list[str]:
    return run_listing_modules(words)[1]


def test_server_commands_read_no_training_code():
    assert loaded_after(["serve", "--help"]) == []
    assert loaded_after(["--help"]) == []
    assert loaded_after(["http", "--help"]) == []


def test_a_training_command_reads_only_its_own_module():
    assert loaded_after(["train", "--help"]) == [
        "ghostwright.training",
        "ghostwright.training.cli",
        "ghostwright.training.run_setup",
    ]


def test_one_rule_for_repository_relative_paths(tmp_path: Path):
    from ghostwright.indexer.files import repository_path

    root = (tmp_path / "repo").resolve()
    (root / "pkg").mkdir(parents=True)
    (root / "pkg" / "a.py").write_text("x = 1\n")
    (tmp_path / "outside.py").write_text("y = 2\n")
    (root / "link.py").symlink_to(tmp_path / "outside.py")
    assert repository_path(root, str(root / "pkg" / "a.py")) == "pkg/a.py"
    assert repository_path(root, "pkg/a.py") == "pkg/a.py"  # already relative
    assert repository_path(root, str(root / "gone.py")) == "gone.py"  # deleted: as given
    assert repository_path(root, str(tmp_path / "outside.py")) is None
    assert repository_path(root, str(root / "link.py")) == "link.py"  # the link, not its target
