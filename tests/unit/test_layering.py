"""Dependencies point down: no library module imports the CLI, the report does not import
the pipeline, the results renderers use public APIs only, and nothing sets torch's global
thread count outside ``alignlab.threads``."""

from __future__ import annotations

import ast
from pathlib import Path

import alignlab

SRC = Path(alignlab.__file__).parent


def _imports(path: Path) -> set[str]:
    out = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            out |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            out.add(node.module)
    return out


def _modules(under: str = "") -> list[Path]:
    return sorted((SRC / under).rglob("*.py"))


def test_no_library_module_imports_the_cli():
    bad = [str(p.relative_to(SRC)) for p in _modules() if "cli" not in p.relative_to(SRC).parts
           and any(m == "alignlab.cli" or m.startswith("alignlab.cli.") for m in _imports(p))]
    assert bad == []


def test_the_report_does_not_import_the_pipeline():
    bad = [str(p.relative_to(SRC)) for p in _modules("report")
           if any(m.startswith("alignlab.pipeline") for m in _imports(p))]
    assert bad == []


def test_only_the_threads_module_sets_torch_threads():
    bad = [str(p.relative_to(SRC)) for p in _modules() if p.name != "threads.py" and "set_num_threads" in p.read_text()]
    assert bad == []


def test_results_renderers_import_no_private_module_of_another_package():
    """A results document reads records through the stages' public APIs (``alignlab.x``,
    never ``alignlab.x._y``); what a renderer needs is promoted to the package."""
    def foreign_private(m: str) -> bool:
        parts = m.split(".")
        return parts[0] == "alignlab" and parts[1:2] != ["results"] and any(x.startswith("_") for x in parts[1:])

    bad = {str(p.relative_to(SRC)): m for p in _modules("results") for m in _imports(p) if foreign_private(m)}
    assert bad == {}


def test_results_are_rendered_by_the_package_not_by_scripts():
    assert not (Path(__file__).resolve().parents[2] / "scripts").exists()
