"""The structure rules hold: layers import only downward (the import-linter contract in
pyproject.toml), and neither the package nor its tests import private Dagster API."""

import ast
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# The text an import of a `dagster._…` module must contain (Python allows spaces and line
# continuations around the dot): only the files holding it are parsed, a few of ~300.
PRIVATE_NAME = re.compile(r"dagster[\s\\]*\.[\s\\]*_")


def private_dagster_imports(folder: Path) -> list[str]:
    """`file:line module` (file relative to `folder`) for every import of `dagster._…` under it."""
    found = []
    for path in sorted(folder.rglob("*.py")):
        text = path.read_text()
        if not PRIVATE_NAME.search(text):
            continue
        for node in ast.walk(ast.parse(text, str(path))):
            modules = [a.name for a in node.names] if isinstance(node, ast.Import) else []
            if isinstance(node, ast.ImportFrom) and node.module:
                modules = [node.module]
            name = path.relative_to(folder)
            found += [f"{name}:{node.lineno} {m}" for m in modules if m.startswith("dagster._")]
    return found


def test_layers_import_only_downward():
    lint = Path(sys.executable).with_name("lint-imports")
    result = subprocess.run([str(lint)], cwd=ROOT, capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stdout[-3000:]
    assert "1 kept, 0 broken" in result.stdout
    assert "ignored" not in result.stdout  # no exception to the rule


def test_the_scan_finds_private_dagster_imports(tmp_path: Path):
    (tmp_path / "bad.py").write_text(
        "import dagster as dg\nimport dagster._core.events\nfrom dagster._utils import x\n"
        "from dagster \\\n    . _serdes import y\n"
    )
    assert private_dagster_imports(tmp_path) == [
        "bad.py:2 dagster._core.events",
        "bad.py:3 dagster._utils",
        "bad.py:4 dagster._serdes",
    ]


def test_no_module_imports_private_dagster_api():
    assert private_dagster_imports(ROOT / "lakehouse") == []
    assert private_dagster_imports(ROOT / "assets_tests") == []
