"""pytest plugin for the Markdown code examples (`pytest -p tests.doc_examples --markdown-docs README.md docs`).

Every example runs as its reader would run it, with the hub ids in its text: a Hugging Face cache (`HF_HUB_CACHE`,
offline) holds tiny RANDOM checkpoints under the real ids (`suno/bark-small`, `hf-audio/vocos-encodec-24khz`,
`facebook/encodec_24khz`), so `from_pretrained("suno/bark-small")` loads a tiny model. Its audio is noise. Each
Markdown file's examples run in a fresh working folder, so the files they write (`hello.wav`, ...) go there.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from pytest_markdown_docs._runners import DefaultRunner, register_runner

# the voices the examples name; the tiny Bark has two presets, which these names share
EXAMPLE_VOICES = [f"v2/en_speaker_{index}" for index in range(10)]


PINNED_KERNELS = {
    "BARK_VOCOS_KERNEL": "aten",
    "BARK_VOCOS_INT8_KERNEL": "fbgemm",
    "BARK_VOCOS_DECODE_ENGINE": "torch",
    "BARK_VOCOS_ATTENTION": "float32",
    "BARK_VOCOS_EXACT_ATTENTION": "float32",
}


def _snapshot(cache: Path, repo_id: str, source: Path) -> Path:
    """Copy folder `source` into `cache` as the hub's snapshot of `repo_id` (refs/main -> a commit folder)."""
    commit = hashlib.sha1(repo_id.encode()).hexdigest()
    repo = cache / f"models--{repo_id.replace('/', '--')}"
    snapshot = repo / "snapshots" / commit
    shutil.copytree(source, snapshot)
    (repo / "refs").mkdir(parents=True)
    (repo / "refs" / "main").write_text(commit)
    return snapshot


def write_tiny_hub_cache(cache: Path, work: Path) -> None:
    """Fill `cache` with tiny random checkpoints under the hub ids the documentation names."""
    from bark_vocos.testing import make_tiny

    tiny = make_tiny(work / "tiny", seed=0)
    bark = _snapshot(cache, "suno/bark-small", tiny / "bark")
    presets_file = bark / "speaker_embeddings_path.json"
    presets = json.loads(presets_file.read_text())
    for index, name in enumerate(EXAMPLE_VOICES):
        presets.setdefault(name, presets[f"v2/en_speaker_{index % 2}"])
    presets_file.write_text(json.dumps(presets, indent=2))
    vocos = _snapshot(cache, "hf-audio/vocos-encodec-24khz", tiny / "vocos")
    _snapshot(cache, "facebook/encodec_24khz", tiny / "vocos" / "audio_tokenizer")
    shutil.rmtree(vocos / "audio_tokenizer")
    processor_file = vocos / "processor_config.json"
    processor = json.loads(processor_file.read_text())
    processor["audio_tokenizer"]["audio_tokenizer_name_or_path"] = "facebook/encodec_24khz"
    processor_file.write_text(json.dumps(processor, indent=2))


@pytest.fixture(scope="session")
def tiny_hub_cache(tmp_path_factory) -> Path:
    """The cache `pytest_configure` pointed HF_HUB_CACHE at, filled once per session."""
    cache = Path(os.environ["HF_HUB_CACHE"])
    write_tiny_hub_cache(cache, tmp_path_factory.mktemp("tiny-sources"))
    return cache


@pytest.fixture(autouse=True)
def _examples_environment(tiny_hub_cache, tmp_path_factory, request, monkeypatch) -> Iterator[None]:
    """Offline, the tiny hub cache, no tuning record, a working folder per Markdown file."""
    folder = tmp_path_factory.getbasetemp() / ("work-" + request.node.path.stem)
    folder.mkdir(exist_ok=True)
    monkeypatch.chdir(folder)
    yield


@register_runner(default=True)
class ContinuingRunner(DefaultRunner):
    """pytest-markdown-docs' runner, except that a `continuation` block runs only its own lines, in the namespace its
    page's earlier blocks left, instead of running them all again (the tool's default: each continuation re-runs
    every block before it, which made the pages' examples several times slower). After a failure the next
    continuation runs everything again, as the tool would."""

    def __init__(self) -> None:
        self.done: dict[object, tuple[str, dict]] = {}  # page -> (source run so far, its namespace)

    def runtest(self, test, args, *, asyncio_runner=None):
        ran, namespace = self.done.pop(test.source_path, ("", None))
        if namespace is not None and ran and test.source.startswith(ran):
            rest = "\n" * ran.count("\n") + test.source[len(ran) :]  # the same line numbers as in the page
            super().runtest(dataclasses.replace(test, source=rest), namespace, asyncio_runner=asyncio_runner)
        else:
            namespace = args
            super().runtest(test, namespace, asyncio_runner=asyncio_runner)
        self.done[test.source_path] = (test.source, namespace)


def pytest_configure(config) -> None:
    # huggingface_hub reads HF_HUB_CACHE when it is imported: point it at a new, empty folder before anything does
    os.environ["HF_HUB_CACHE"] = tempfile.mkdtemp(prefix="doc-examples-hub-")
    os.environ["HF_HUB_OFFLINE"] = "1"
    os.environ["BARK_VOCOS_TUNING_RECORD"] = "off"
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
    # every measured choice pinned, as the docs' pin line does: timing kernels would cost more than the tiny models
    os.environ.update(PINNED_KERNELS)
    import torch

    torch.set_num_threads(2)
