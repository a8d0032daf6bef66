"""The house has no arrow pointing up: each package imports only the layers below it (and itself).

core (settings, texts, names, the local day) → models (tables, chain rules) → notifications and
documents (mail, reports; they know nothing of each other) → services (state changes) → flows (the
jobs, and the only home of Prefect) → web (the console; never Prefect) → reportchain (the CLI, the
demo, and starting the console). The imports
are read from the source (ast), module-level and inside functions alike, so a lazy import cannot hide
an arrow either."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from core.settings import PROJECT_ROOT

LAYERS = {"core": 0, "models": 1, "notifications": 2, "documents": 2, "services": 3, "flows": 4, "web": 5,
          "reportchain": 6}


def top_level_imports(path: Path) -> set[str]:
    """The top-level packages a module imports, anywhere in it."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.add(node.module.split(".")[0])
    return found


def imports_of(path: Path) -> set[str]:
    """The packages of ours that a module imports."""
    return top_level_imports(path) & set(LAYERS)


def arrows() -> list[tuple[str, str, str]]:
    """(module, its package, a package of ours it imports) for every module of ours."""
    return [(str(path.relative_to(PROJECT_ROOT)), package, imported)
            for package in LAYERS for path in sorted((PROJECT_ROOT / package).rglob("*.py"))
            for imported in imports_of(path) if imported != package]


def test_no_package_imports_a_layer_above_it_or_beside_it():
    upward = [f"{module} imports {imported}" for module, package, imported in arrows()
              if LAYERS[imported] >= LAYERS[package]]
    assert upward == []


@pytest.mark.parametrize("package", [p for p in LAYERS if p != "flows"])
def test_prefect_is_imported_only_by_the_flows(package):
    users = [str(path.relative_to(PROJECT_ROOT)) for path in (PROJECT_ROOT / package).rglob("*.py")
             if "prefect" in top_level_imports(path)]
    assert users == []


def test_the_test_sees_the_arrows_it_judges():
    """A test that found no import at all would pass whatever the code did."""
    seen = {(package, imported) for _, package, imported in arrows()}
    assert {("flows", "models"), ("reportchain", "flows"), ("documents", "core")} <= seen


def test_stages_and_outbox_statuses_are_compared_by_name_never_as_strings():
    """`report.stage == "filing"` breaks silently when a stage is renamed; `Stage.FILING` cannot."""
    from models.chain import Stage
    from models.tables import OutboxStatus

    names = {s.value for s in Stage} | {s.value for s in OutboxStatus}
    found = []
    for package in LAYERS:
        for path in sorted((PROJECT_ROOT / package).rglob("*.py")):
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                if isinstance(node, ast.Compare):
                    literals = [n for side in (node.left, *node.comparators) for n in ast.walk(side)
                                if isinstance(n, ast.Constant) and n.value in names]
                    found += [f"{path.relative_to(PROJECT_ROOT)}:{n.lineno} {n.value!r}" for n in literals]
    assert found == []
