"""The documentation: the site builds strictly, every code example in README.md and docs/ runs or is marked and still
checked, and the speed tables agree with their benchmark JSON (docs/contributing.md, "Tests")."""

from __future__ import annotations

import ast
import importlib.util
import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]
PYTHON = ("python", "py", "python3")
SHELL = ("bash", "sh", "shell", "console")
# marks a block that needs the real models, a GPU, the network or a running server: not run, still checked
MARK = "notest"


def _fences():
    """(page, first line, language, options, code) of every fenced block, parsed by markdown-it (pytest-markdown-docs'
    parser)."""
    from markdown_it import MarkdownIt

    parser = MarkdownIt("commonmark")
    for page in PAGES:
        for token in parser.parse(page.read_text(encoding="utf-8")):
            if token.type == "fence":
                words = token.info.split()
                yield page, token.map[0] + 1, (words[0] if words else ""), set(words[1:]), token.content


def _where(page: Path, line: int) -> str:
    return f"{page.relative_to(ROOT)}:{line}"


def _env() -> dict[str, str]:
    return {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]),
        "HF_HUB_OFFLINE": "1",
        "NO_MKDOCS_2_WARNING": "1",
    }


@pytest.mark.skipif(importlib.util.find_spec("mkdocs") is None, reason="mkdocs is installed by the docs extra")
def test_site_builds_strictly_offline(tmp_path):
    """`make docs`: a broken link, a page missing from the nav or a bad API reference fails the build."""
    site = tmp_path / "site"
    result = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(site)],
        cwd=ROOT,
        env=_env(),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-5000:]
    reference = (site / "reference" / "pipelines" / "index.html").read_text(encoding="utf-8")
    assert "TextToWavPipeline" in reference and "from_pretrained" in reference
    assert "VocosEncodecModel" in (site / "reference" / "bark_vocos" / "index.html").read_text(encoding="utf-8")
    for page, name in (("compare", "compare_files"), ("batch", "run_batch"), ("server", "create_app")):
        assert name in (site / "reference" / page / "index.html").read_text(encoding="utf-8"), page
    assert not re.search(r"https?://(fonts\.googleapis|cdn\.)", (site / "index.html").read_text(encoding="utf-8"))


@pytest.mark.skipif(importlib.util.find_spec("pytest_markdown_docs") is None, reason="installed by the docs extra")
def test_python_examples_run_on_tiny_checkpoints():
    """Every unmarked Python block runs with pytest-markdown-docs, the hub ids resolving to tiny random checkpoints."""
    pages = [str(page.relative_to(ROOT)) for page in PAGES]
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-p",
            "tests.doc_examples",
            "--markdown-docs",
            "-p",
            "no:cacheprovider",
            *pages,
        ],
        cwd=ROOT,
        env=_env(),
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stdout[-6000:] + result.stderr[-3000:]
    ran = sum(1 for _, _, language, options, _ in _fences() if language in PYTHON and MARK not in options)
    assert f"{ran} passed" in result.stdout, result.stdout[-2000:]


def test_marked_python_examples_parse():
    problems = []
    for page, line, language, _, code in _fences():
        if language in PYTHON:
            try:
                ast.parse(code)
            except SyntaxError as error:
                problems.append(f"{_where(page, line)}: {error}")
    assert problems == []


def _commands(code: str):
    """Each simple command of a shell block, as words: lines joined at a trailing backslash, comments dropped, split
    at pipes and `&&`/`;`, redirections and leading `NAME=value` assignments removed."""
    for line in code.replace("\\\n", " ").split("\n"):
        lexer = shlex.shlex(line, posix=True, punctuation_chars=True)
        lexer.whitespace_split = True
        command: list[str] = []
        for word in [*lexer, ";"]:
            if set(word) <= set("|&;"):
                while command and re.fullmatch(r"[A-Z_][A-Z0-9_]*=.*", command[0]):
                    command.pop(0)
                if command:
                    yield command
                command = []
            elif set(word) <= set("<>") or (command and set(command[-1]) <= set("<>")):
                command.append(">")  # a redirection and its target are no arguments
            else:
                command.append(word)


def _make_targets() -> set[str]:
    return set(re.findall(r"^([\w.-]+):", (ROOT / "Makefile").read_text(encoding="utf-8"), flags=re.M))


def test_shell_examples_name_existing_commands_and_flags():
    """Every `bark-vocos` command in a shell block (marked or not) parses with the CLI's own argparse, and every
    `make` target exists."""
    from pipelines.commands import build_parser

    parser, targets, problems, seen = build_parser(), _make_targets(), [], 0
    for page, line, language, _, code in _fences():
        if language not in SHELL:
            continue
        for words in _commands(code):
            words = [word for word in words if word != ">"]
            if words[0] == "bark-vocos":
                seen += 1
                try:
                    parser.parse_args(words[1:])
                except SystemExit as stop:
                    if stop.code not in (0, None):
                        problems.append(f"{_where(page, line)}: {shlex.join(words)}")
            elif words[0] == "make":
                missing = [word for word in words[1:] if "=" not in word and word not in targets]
                if missing:
                    problems.append(f"{_where(page, line)}: no make target {missing}")
    assert problems == []
    assert seen > 30


def test_unmarked_shell_examples_run(tmp_path):
    """The shell blocks not marked `notest` run in bash (`-e`), each in a new folder, offline; a block whose text is
    that of one run already (the README's quick start, repeated on the installation page) is checked by that run."""
    shims = tmp_path / "bin"
    shims.mkdir()
    for name, module in (("bark-vocos", " -m pipelines"), ("python", "")):
        (shims / name).write_text(f'#!/bin/sh\nexec "{sys.executable}"{module} "$@"\n')
        (shims / name).chmod(0o755)
    env = {**_env(), "PATH": f"{shims}{os.pathsep}{os.environ['PATH']}"}
    ran, run_texts = 0, set()
    for index, (page, line, language, options, code) in enumerate(_fences()):
        if language not in SHELL or MARK in options or code in run_texts:
            continue
        run_texts.add(code)
        folder = tmp_path / f"block{index}"
        folder.mkdir()
        result = subprocess.run(
            ["bash", "-e", "-c", code], cwd=folder, env=env, capture_output=True, text=True, timeout=300
        )
        assert result.returncode == 0, f"{_where(page, line)}:\n{code}\n{result.stdout[-2000:]}{result.stderr[-3000:]}"
        ran += 1
    assert ran >= 1


def _bench_tables():
    spec = importlib.util.spec_from_file_location("bench_tables", ROOT / ".ci" / "bench_tables.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_speed_tables_agree_with_their_json():
    """`make bench-tables` would change nothing: every table between bench-table markers is its JSON's."""
    result = subprocess.run(
        [sys.executable, str(ROOT / ".ci" / "bench_tables.py"), "--check"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    tables = _bench_tables()
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert "<!-- bench-table: pipeline-summary -->" in readme and "<!-- bench-table: vocoder-summary -->" in readme
    assert tables.updated(readme) == readme


def test_a_table_typed_by_hand_is_found():
    tables = _bench_tables()
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    figure = re.search(r"\*\*(\d+\.\d\d)x\*\*", readme)
    assert figure is not None
    tampered = readme.replace(figure.group(0), f"**{float(figure.group(1)) + 1:.2f}x**", 1)
    assert tables.updated(tampered) == readme


def test_readme_is_short():
    assert len((ROOT / "README.md").read_text(encoding="utf-8").splitlines()) <= 250
