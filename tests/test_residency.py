"""Letting go of weights' file pages (`bark_vocos.residency`): the values stay, only unwritten pages of mapped files
go, and the fast engine lets go of the float32 weights it has rounded to int8."""

import sys
from pathlib import Path

import pytest
import torch
from safetensors import safe_open
from safetensors.torch import save_file
from transformers import BarkModel

from bark_vocos.bark import OptimizedBarkStages
from bark_vocos.bark.onnx_step import build_step_graph, onnx_step_available
from bark_vocos.bark.rounding import RoundedWeights
from bark_vocos.residency import release_file_pages
from bark_vocos.testing import random_bark_model

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="file pages are let go of on Linux")

PAGE = 4096
MIB = 1 << 20


def _resident(path: Path) -> int:
    """Bytes of `path`'s mappings resident in this process (from /proc/self/smaps)."""
    total, inside = 0, False
    with open("/proc/self/smaps") as smaps:
        for line in smaps:
            if line[0] in "0123456789abcdef" and "-" in line.split(" ", 1)[0]:
                inside = line.rstrip("\n").endswith(str(path))
            elif inside and line.startswith("Rss:"):
                total += int(line.split()[1]) * 1024
    return total


def _mapped_weight(folder: Path, rows: int = 1024) -> tuple[torch.Tensor, Path]:
    """A `(rows, 1024)` float32 tensor read from a safetensors file as transformers reads one (mapped, not copied),
    with every page read once."""
    path = folder / "weight.safetensors"
    save_file({"weight": torch.randn(rows, 1024, generator=torch.Generator().manual_seed(0))}, str(path))
    with safe_open(str(path), "pt") as checkpoint:
        weight = checkpoint.get_tensor("weight")
    assert torch.isfinite(weight.sum())  # every page read
    return weight, path


def test_released_pages_leave_memory_and_their_values_are_read_again(tmp_path):
    weight, path = _mapped_weight(tmp_path)
    expected = weight.clone()
    before = _resident(path)
    assert before >= 4 * MIB
    released = release_file_pages([weight])
    assert 4 * MIB - 2 * PAGE <= released <= 4 * MIB  # the whole pages within the tensor
    assert _resident(path) <= before - released
    assert torch.equal(weight, expected)  # read in again from the file
    assert _resident(path) >= 4 * MIB - 2 * PAGE


def test_a_view_lets_go_only_of_the_pages_wholly_within_it(tmp_path):
    weight, path = _mapped_weight(tmp_path)
    expected = weight.clone()
    before = _resident(path)
    released = release_file_pages([weight[256:512]])  # 1 MiB of rows
    assert MIB - 2 * PAGE <= released <= MIB
    assert _resident(path) == before - released
    assert torch.equal(weight, expected)


def test_a_tensor_with_a_written_page_is_left_as_it_is(tmp_path):
    weight, path = _mapped_weight(tmp_path)
    expected = weight.clone()
    weight[300, 5] = 7.0  # that page is now this process's own copy: dropping it would lose the write
    expected[300, 5] = 7.0
    before = _resident(path)
    assert release_file_pages([weight]) == 0
    assert _resident(path) == before
    assert torch.equal(weight, expected)
    assert release_file_pages([weight[512:]]) >= 2 * MIB - 2 * PAGE  # rows whose pages were not written go
    assert torch.equal(weight, expected)


def test_memory_that_is_not_a_file_is_left_as_it_is():
    tensor = torch.randn(1024, 1024, generator=torch.Generator().manual_seed(0))
    expected = tensor.clone()
    assert release_file_pages([tensor, torch.empty(0), tensor[:, 0]]) == 0
    assert torch.equal(tensor, expected)


@pytest.mark.parametrize("mode", ["exact", "fast"])
def test_the_fast_engine_lets_go_of_the_float32_pages_it_has_rounded(tmp_path, mode):
    random_bark_model(64, 2, 2, seed=0).save_pretrained(tmp_path)
    model = BarkModel.from_pretrained(tmp_path).eval()
    stages = [model.semantic, model.coarse_acoustics, model.fine_acoustics]
    stage_bytes = sum(p.numel() * p.element_size() for stage in stages for p in stage.parameters())
    with torch.no_grad():
        assert all(torch.isfinite(p.sum()) for p in model.parameters())  # every page read
    file = tmp_path / "model.safetensors"
    before = _resident(file)
    OptimizedBarkStages(model, mode)
    after = _resident(file)
    if mode == "fast":
        assert before - after >= 0.9 * stage_bytes
    else:
        assert after >= before  # the exact engine reads its float32 weights: they stay
    assert type(model.semantic.layers[0].mlp.in_proj) is torch.nn.Linear  # the model itself is untouched


@pytest.mark.skipif(not onnx_step_available(), reason="needs onnx and onnxruntime")
@pytest.mark.parametrize("release", [False, True])
def test_an_8_bit_step_graph_lets_go_of_each_weight_it_has_rounded_when_asked(tmp_path, release):
    random_bark_model(64, 2, 2, seed=0).save_pretrained(tmp_path)
    semantic = BarkModel.from_pretrained(tmp_path).eval().semantic
    layers = [layer for block in semantic.layers for layer in (block.attn.att_proj, block.mlp.in_proj)]
    with torch.no_grad():
        assert all(torch.isfinite(layer.weight.sum()) for layer in layers)  # every page read
    file = tmp_path / "model.safetensors"
    before = _resident(file)
    expected = [layer.weight.clone() for layer in layers]
    graph = build_step_graph(semantic, True, rounded=RoundedWeights(None, release_float32=release))
    released = before - _resident(file)
    weights = sum(layer.weight.numel() * layer.weight.element_size() for layer in layers)
    assert released >= 0.9 * weights if release else released <= 0
    assert all(torch.equal(layer.weight, weight) for layer, weight in zip(layers, expected, strict=True))
    assert set(graph.weights) == set(build_step_graph(semantic, True).weights)
