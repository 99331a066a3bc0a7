"""The dependency rule (docs: ARCHITECTURE.md): the domain and the services know nothing of
the web or of templates, so neither imports Flask (or its extensions) nor Jinja2."""

import ast
from pathlib import Path

import pytest

import portal

PORTAL = Path(portal.__file__).resolve().parent
FORBIDDEN = ("flask", "jinja2")


def modules(layer: str) -> list[Path]:
    return sorted((PORTAL / layer).rglob("*.py"))


def imported(path: Path) -> set[str]:
    """Every module a file imports, wherever in the file (also inside functions)."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module)
    return names


def forbidden(name: str) -> bool:
    top = name.split(".")[0]
    return any(top == f or top.startswith(f + "_") for f in FORBIDDEN)  # flask_wtf too


@pytest.mark.parametrize("layer", ["domain", "services"])
def test_the_layer_imports_neither_flask_nor_jinja2(layer):
    files = modules(layer)
    assert len(files) > 5, f"no modules found under portal/{layer}"
    found = {
        f"{path.relative_to(PORTAL)}: {name}"
        for path in files
        for name in imported(path)
        if forbidden(name)
    }
    assert not found, sorted(found)


def test_the_check_sees_imports_anywhere_in_a_module(tmp_path):
    source = tmp_path / "m.py"
    source.write_text(
        "import os\n"
        "def f():\n"
        "    from jinja2 import Environment\n"
        "    import flask_wtf.csrf\n"
        "from portal.domain import money\n"
    )
    assert {n for n in imported(source) if forbidden(n)} == {"jinja2", "flask_wtf.csrf"}
    assert not forbidden("flasky") and not forbidden("portal.web")
