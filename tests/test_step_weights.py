"""The 8-bit step weights kept on disk (`bark_vocos.bark.step_weights`): read back by where a weight comes from, never
for a weight that changed, one warning for an unreadable file or an unwritable folder."""

import sys

import numpy as np
import pytest
import torch
from transformers import BarkModel

from bark_vocos.bark import int8, step_weights
from bark_vocos.bark.onnx_step import build_step_graph, onnx_step_available
from bark_vocos.bark.step_weights import EightBitWeights
from bark_vocos.testing import random_bark_model

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="weights are known by file on Linux")


def _semantic(folder, seed: int = 0):
    random_bark_model(64, 2, 2, seed=seed).save_pretrained(folder)
    return BarkModel.from_pretrained(folder).eval().semantic


def _layers(model) -> list[torch.nn.Linear]:
    return [layer for block in model.layers for layer in (block.attn.att_proj, block.mlp.in_proj, block.mlp.out_proj)]


def _same(a, b) -> bool:
    return all(np.array_equal(x, y) for x, y in zip(a, b, strict=True))


def _no_rounding(monkeypatch) -> None:
    def refuse(*args, **kwargs):
        raise AssertionError("rounded although cached")

    monkeypatch.setattr(step_weights, "round_symmetric", refuse)


def test_rounded_weights_are_read_back_by_where_the_weight_comes_from(tmp_path, monkeypatch):
    model = _semantic(tmp_path / "bark")
    cache = tmp_path / "rounded"
    computed = [EightBitWeights().of(layer.weight) for layer in _layers(model)]
    first = [EightBitWeights(cache).of(layer.weight) for layer in _layers(model)]
    assert len(list(cache.iterdir())) == len(_layers(model))
    _no_rounding(monkeypatch)
    again = [EightBitWeights(cache).of(layer.weight) for layer in _layers(model)]
    assert all(_same(a, b) for a, b in zip(computed, first, strict=True))
    assert all(_same(a, b) for a, b in zip(computed, again, strict=True))
    reloaded = _layers(BarkModel.from_pretrained(tmp_path / "bark").eval().semantic)  # the file mapped anew
    assert all(_same(a, EightBitWeights(cache).of(layer.weight)) for a, layer in zip(computed, reloaded, strict=True))


def test_a_weight_changed_in_place_or_made_in_memory_is_rounded_every_time(tmp_path):
    model = _semantic(tmp_path / "bark")
    cache = tmp_path / "rounded"
    layer = _layers(model)[0]
    _, before, _ = EightBitWeights(cache).of(layer.weight)
    with torch.no_grad():
        layer.weight.mul_(2)  # its pages are now the process's own: not the file's values any more
    changed = EightBitWeights(cache).of(layer.weight)
    assert _same(changed, EightBitWeights().of(layer.weight))
    assert np.allclose(changed[1], 2 * before)
    in_memory = random_bark_model(64, 2, 2, seed=0).semantic
    EightBitWeights(tmp_path / "none").of(_layers(in_memory)[0].weight)
    assert not (tmp_path / "none").exists()


def test_a_new_file_at_the_same_path_is_another_weight(tmp_path):
    cache = tmp_path / "rounded"
    old = EightBitWeights(cache).of(_layers(_semantic(tmp_path / "bark", seed=0))[0].weight)
    new_layer = _layers(_semantic(tmp_path / "bark", seed=1))[0]
    got = EightBitWeights(cache).of(new_layer.weight)
    assert _same(got, EightBitWeights().of(new_layer.weight)) and not _same(got, old)


def test_unreadable_cached_weights_are_ignored_with_one_warning_and_rewritten(tmp_path):
    model = _semantic(tmp_path / "bark")
    cache = tmp_path / "rounded"
    expected = [EightBitWeights(cache).of(layer.weight) for layer in _layers(model)]
    files = sorted(cache.iterdir())
    good = [path.read_bytes() for path in files]
    for path, data in zip(files, good, strict=True):
        path.write_bytes(data[: len(data) // 2])
    source = EightBitWeights(cache)
    with pytest.warns(UserWarning, match="ignored the unreadable rounded weights") as caught:
        got = [source.of(layer.weight) for layer in _layers(model)]
    assert len(caught) == 1 and all(_same(a, b) for a, b in zip(expected, got, strict=True))
    assert [path.read_bytes() for path in files] == good


def test_an_unwritable_folder_is_skipped_with_one_warning(tmp_path):
    model = _semantic(tmp_path / "bark")
    blocked = tmp_path / "file"
    blocked.write_text("not a folder")
    source = EightBitWeights(blocked / "rounded")
    with pytest.warns(UserWarning, match="could not cache rounded weights") as caught:
        got = [source.of(layer.weight) for layer in _layers(model)]
    assert len(caught) == 1
    assert all(_same(EightBitWeights().of(layer.weight), g) for layer, g in zip(_layers(model), got, strict=True))


@pytest.mark.skipif(not onnx_step_available(), reason="onnxruntime or onnx is not installed")
def test_a_step_graph_from_cached_weights_holds_the_same_weights(tmp_path, monkeypatch):
    model = _semantic(tmp_path / "bark")
    built = build_step_graph(model, True)
    build_step_graph(model, True, eight_bit=EightBitWeights(tmp_path / "rounded"))
    _no_rounding(monkeypatch)
    cached = build_step_graph(model, True, eight_bit=EightBitWeights(tmp_path / "rounded"))
    assert cached.model == built.model and list(cached.weights) == list(built.weights)
    assert all(np.array_equal(cached.weights[name], built.weights[name]) for name in built.weights)
    assert int8.round_symmetric is not step_weights.round_symmetric  # only the 8-bit step's rounding was refused
