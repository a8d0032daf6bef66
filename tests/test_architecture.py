"""The house has no arrow pointing up: each package imports only the layers below it (and itself).

core (settings, texts, names, the local day) → models (tables, chain rules) → notifications and
documents (mail, reports; they know nothing of each other), and migrations (the schema's history) →
services (state changes) → flows (the jobs, and the only home of Prefect) → web (the console; never
Prefect) → reportchain (the CLI, the demo, and starting the console). The imports are read from the
source (ast), module-level and inside functions alike, so a lazy import cannot hide an arrow either."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from core.settings import PROJECT_ROOT

LAYERS = {"core": 0, "models": 1, "notifications": 2, "documents": 2, "services": 3, "flows": 4, "web": 5,
          "reportchain": 6,
          "migrations": 2}  # Alembic's env reads the models' tables and engine; models/db.py runs it by path


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
    assert {("flows", "models"), ("reportchain", "flows"), ("documents", "core"), ("migrations", "models")} <= seen


def compared_literals(names: set[str], packages) -> list[str]:
    """Where one of `names` is written as a string literal in a comparison (`x == "filing"`, `x in
    ("a", "b")`, `counts == {"a": 1}`), in the modules of `packages`. A key looked up (`row["new"] == …`,
    `data.get("new") == …`) is not a value."""
    found = []
    for package in packages:
        for path in sorted((PROJECT_ROOT / package).rglob("*.py")):
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                if isinstance(node, ast.Compare):
                    keys = {id(key) for side in (node.left, *node.comparators) for n in ast.walk(side)
                            for key in ([n.slice] if isinstance(n, ast.Subscript) else
                                        n.args if isinstance(n, ast.Call) else [])}
                    literals = [n for side in (node.left, *node.comparators) for n in ast.walk(side)
                                if isinstance(n, ast.Constant) and n.value in names and id(n) not in keys]
                    found += [f"{path.relative_to(PROJECT_ROOT)}:{n.lineno} {n.value!r}" for n in literals]
    return found


def test_stages_and_outbox_statuses_are_compared_by_name_never_as_strings():
    """`report.stage == "filing"` breaks silently when a stage is renamed; `Stage.FILING` cannot."""
    from models.chain import Stage
    from models.tables import OutboxStatus

    assert compared_literals({s.value for s in Stage} | {s.value for s in OutboxStatus}, LAYERS) == []


def test_inbound_outcomes_are_compared_by_name_never_as_strings():
    """An intake outcome (`row.outcome == "unclear"`) is `InboundOutcome.UNCLEAR` outside models/; the
    bench and the tests compare by name too."""
    from models.tables import InboundOutcome

    packages = [p for p in LAYERS if p != "models"] + ["bench", "tests"]
    assert compared_literals({o.value for o in InboundOutcome}, packages) == []


def test_the_literal_check_sees_a_literal(tmp_path, monkeypatch):
    """The check above finds `outcome == "unclear"` and `in ("applied",)` but not `row["new"] == 1`."""
    names = {"unclear", "applied", "new"}
    (tmp_path / "pkg").mkdir()
    (tmp_path / "pkg" / "m.py").write_text(
        'a = x.outcome == "unclear"\nb = y in ("applied", 1)\nc = row["new"] == d.get("new")\n', encoding="utf-8")
    monkeypatch.setattr(__import__(__name__, fromlist=["PROJECT_ROOT"]), "PROJECT_ROOT", tmp_path)
    assert compared_literals(names, ["pkg"]) == ["pkg/m.py:1 'unclear'", "pkg/m.py:2 'applied'"]
