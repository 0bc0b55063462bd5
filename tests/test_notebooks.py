"""The demo notebooks: committed without outputs, and each runs start to end on tiny checkpoints (offline)."""

from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))
# What each notebook must show: an audio player, and for some a figure.
EXPECTED = {
    "01_text_to_speech.ipynb": {"audio", "figure"},
    "02_encodec_vs_vocos.ipynb": {"audio", "figure"},
    "03_codes_and_stages.ipynb": {"audio"},
    "04_voice_from_a_recording.ipynb": {"audio"},
}

# Lines a notebook must print (its own checks, shown to the reader).
PRINTED = {
    "01_text_to_speech.ipynb": ["the stream equals one call: True"],
    "04_voice_from_a_recording.ipynb": ["exit code 0 | same preset as above: True"],
}


def test_every_notebook_is_listed_and_linked_from_the_readme():
    assert [path.name for path in NOTEBOOKS] == sorted(EXPECTED)
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    for path in NOTEBOOKS:
        assert f"notebooks/{path.name}" in readme


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_committed_without_outputs(path):
    notebook = nbformat.read(path, as_version=4)
    nbformat.validate(notebook)
    for cell in notebook.cells:
        if cell.cell_type == "code":
            assert cell.outputs == [], f"{path.name}: a cell has outputs; clear them before committing"
            assert cell.execution_count is None, f"{path.name}: a cell has an execution count"


def _shown(notebook) -> set[str]:
    shown = set()
    for cell in notebook.cells:
        for output in cell.get("outputs", []):
            data = output.get("data", {})
            if "<audio" in data.get("text/html", ""):
                shown.add("audio")
            if "image/png" in data:
                shown.add("figure")
    return shown


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_runs_on_tiny_checkpoints(path, monkeypatch, tmp_path):
    monkeypatch.setenv("BARK_VOCOS_TINY", "1")
    monkeypatch.setenv("TMPDIR", str(tmp_path))  # the notebook's working folder (tempfile.mkdtemp) goes with the test's
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("MPLBACKEND", "module://matplotlib_inline.backend_inline")
    before = set(Path("/tmp").glob("bark-vocos-notebook-*"))
    notebook = nbformat.read(path, as_version=4)
    client = NotebookClient(notebook, timeout=300, kernel_name="python3", resources={"metadata": {"path": str(ROOT)}})
    client.execute()  # raises CellExecutionError naming the cell on any failure
    text = "\n".join(
        output.get("text", "") for cell in notebook.cells for output in cell.get("outputs", []) if "text" in output
    )
    assert "TINY MODE: random weights" in text
    for line in PRINTED.get(path.name, []):
        assert line in text, f"{path.name} did not print {line!r}"
    assert EXPECTED[path.name] <= _shown(notebook), f"{path.name} showed only {_shown(notebook)}"
    assert list(tmp_path.glob("bark-vocos-notebook-*")) == []  # its working folder was removed at the end
    assert set(Path("/tmp").glob("bark-vocos-notebook-*")) <= before  # and none was left in /tmp
