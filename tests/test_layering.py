"""Imports run only downward through the package layers of DESIGN.md section 5.

Every module under dove_keras is parsed with `ast`; each import of a dove_keras
module (at the top or inside a function) must name a layer at or below the
importer's own.
"""

import ast
import pathlib

import pytest

pytestmark = pytest.mark.backend_independent

ROOT = pathlib.Path(__file__).resolve().parents[1]

# Bottom up; a module may import its own layer and those below it.
LAYERS = [
    ("utils", "errors", "backends", "quiet"),
    ("preprocessing",),
    ("layers",),
    ("models",),
    ("evaluation",),
    ("data", "datasets"),
    # DESIGN.md draws reports/ beside experiments/; its tables, curves and sheets import
    # nothing above models/, and a training run writes its own, so it sits below training/.
    ("reports",),
    ("training",),
    ("experiments",),
    ("export", "search", "geo"),
    ("commands", "cli", "subcommands"),
]
LEVEL = {name: level for level, names in enumerate(LAYERS) for name in names}

# Known imports that still run up the layers: (importer, imported). Remove an
# entry when its import is gone; a new upward import fails the test.
KNOWN_UPWARD = set()


def _level(module):
    """The layer of a dotted dove_keras module name (None for the package itself)."""
    parts = module.split(".")
    return LEVEL[parts[1]] if len(parts) > 1 else None


def _imports(path):
    """The dove_keras modules `path` imports (`from dove_keras import x` gives `dove_keras.x`)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names if alias.name.startswith("dove_keras"))
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and (node.module or "").startswith("dove_keras"):
            if node.module == "dove_keras":
                found.update(f"dove_keras.{alias.name}" for alias in node.names)
            else:
                found.add(node.module)
    return found


def _modules():
    for path in sorted((ROOT / "dove_keras").rglob("*.py")):
        parts = path.relative_to(ROOT).with_suffix("").parts
        yield ".".join(parts[:-1] if parts[-1] == "__init__" else parts), path


def test_every_package_has_a_layer():
    names = {module.split(".")[1] for module, _ in _modules() if "." in module}
    assert names <= set(LEVEL), f"give these a layer: {sorted(names - set(LEVEL))}"


def test_imports_run_only_downward():
    upward = set()
    for module, path in _modules():
        level = _level(module)
        for imported in _imports(path):
            if level is not None and _level(imported) is not None and _level(imported) > level:
                upward.add((module, imported))
    assert sorted(upward - KNOWN_UPWARD) == [], "imports up the layers (DESIGN.md section 5)"
    assert sorted(KNOWN_UPWARD - upward) == [], "fixed: remove these from KNOWN_UPWARD"
