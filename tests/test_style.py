"""The code base stays ruff-clean and layered: imports point down, no private names cross modules (the conventions
of docs/contributing.md, "Layers")."""

import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.skipif(importlib.util.find_spec("ruff") is None, reason="ruff is installed by the test extra")
def test_ruff_clean():
    result = subprocess.run(
        [sys.executable, "-m", "ruff", "check", "bark_vocos", "pipelines", "tests"],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def _imports(path):
    """(module it names, names it takes) for every import in the file, relative ones made absolute."""
    import ast

    package = ".".join(path.relative_to(ROOT).with_suffix("").parts)
    if path.name != "__init__.py":
        package = package.rsplit(".", 1)[0]
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name, []
        elif isinstance(node, ast.ImportFrom):
            base = package.split(".")[: len(package.split(".")) - node.level + 1] if node.level else []
            module = ".".join([*base, node.module] if node.module else base)
            yield module, [alias.name for alias in node.names]


def _modules():
    return sorted(p for folder in ("bark_vocos", "pipelines") for p in (ROOT / folder).rglob("*.py"))


def _ours(module: str) -> bool:
    return module.split(".")[0] in ("bark_vocos", "pipelines", "tests")


def test_imports_point_down_and_take_no_private_names():
    problems = []
    for path in _modules():
        name = ".".join(path.relative_to(ROOT).with_suffix("").parts)
        for module, names in _imports(path):
            if module.startswith("tests"):
                problems.append(f"{name} imports the tests ({module})")
            if name.startswith("bark_vocos") and module.startswith("pipelines"):
                problems.append(f"{name} (model layer) imports {module}")
            if module.startswith("pipelines.commands") and not name.startswith(
                ("pipelines.commands", "pipelines.__main__")
            ):
                problems.append(f"{name} imports the commands ({module})")
            private = [n for n in names if n.startswith("_") and not n.startswith("__")]
            if _ours(module) and private:
                problems.append(f"{name} imports private {private} from {module}")
    assert problems == []


MAX_FUNCTION_LINES = 90  # a function a reader can hold in their head (issue 30)
MAX_MODULE_LINES = 450  # a module of one job


def test_no_function_over_90_lines_and_no_module_over_450():
    import ast

    problems = []
    for path in _modules():
        text = path.read_text(encoding="utf-8")
        name = path.relative_to(ROOT).as_posix()
        if len(text.splitlines()) > MAX_MODULE_LINES:
            problems.append(f"{name}: {len(text.splitlines())} lines (at most {MAX_MODULE_LINES})")
        for node in ast.walk(ast.parse(text)):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                lines = node.end_lineno - node.lineno + 1
                if lines > MAX_FUNCTION_LINES:
                    problems.append(f"{name}:{node.lineno} {node.name}: {lines} lines (at most {MAX_FUNCTION_LINES})")
    assert problems == []
