"""Imports point one way (STYLE.md): catalogue may use render, never index, models, evaluation or app."""

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
FORBIDDEN = ("app", "evaluation", "index", "models")


def _imported(path: Path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            names.add(node.module.split(".")[0])
    return names


def test_catalogue_imports_nothing_above_it() -> None:
    offenders = {str(p.relative_to(ROOT)): sorted(_imported(p) & set(FORBIDDEN))
                 for p in (ROOT / "catalogue").rglob("*.py")}
    assert {path: names for path, names in offenders.items() if names} == {}
    assert len(offenders) >= 8  # the scan sees the package
