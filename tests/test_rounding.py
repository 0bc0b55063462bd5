"""The rounded weights kept on disk (`bark_vocos.bark.rounding`): read back by where a weight comes from, never for a
weight that changed, one warning for an unreadable file or an unwritable folder; the int8 layers' codes and the
step graphs' both."""

import os
import sys
import time

import numpy as np
import pytest
import torch
from transformers import BarkModel

from bark_vocos.bark import rounding
from bark_vocos.bark.int8 import Int8Linear
from bark_vocos.bark.onnx_step import build_step_graph, onnx_step_available
from bark_vocos.bark.rounding import RoundedWeights
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

    monkeypatch.setattr(rounding, "round_symmetric", refuse)


def test_rounded_weights_are_read_back_by_where_the_weight_comes_from(tmp_path, monkeypatch):
    model = _semantic(tmp_path / "bark")
    cache = tmp_path / "rounded"
    computed = [RoundedWeights().blocks(layer.weight) for layer in _layers(model)]
    first = [RoundedWeights(cache).blocks(layer.weight) for layer in _layers(model)]
    assert len(list(cache.iterdir())) == len(_layers(model))
    _no_rounding(monkeypatch)
    again = [RoundedWeights(cache).blocks(layer.weight) for layer in _layers(model)]
    assert all(_same(a, b) for a, b in zip(computed, first, strict=True))
    assert all(_same(a, b) for a, b in zip(computed, again, strict=True))
    reloaded = _layers(BarkModel.from_pretrained(tmp_path / "bark").eval().semantic)  # the file mapped anew
    assert all(
        _same(a, RoundedWeights(cache).blocks(layer.weight)) for a, layer in zip(computed, reloaded, strict=True)
    )


def test_a_weight_changed_in_place_or_made_in_memory_is_rounded_every_time(tmp_path):
    model = _semantic(tmp_path / "bark")
    cache = tmp_path / "rounded"
    layer = _layers(model)[0]
    _, before, _ = RoundedWeights(cache).blocks(layer.weight)
    with torch.no_grad():
        layer.weight.mul_(2)  # its pages are now the process's own: not the file's values any more
    changed = RoundedWeights(cache).blocks(layer.weight)
    assert _same(changed, RoundedWeights().blocks(layer.weight))
    assert np.allclose(changed[1], 2 * before)
    in_memory = random_bark_model(64, 2, 2, seed=0).semantic
    RoundedWeights(tmp_path / "none").blocks(_layers(in_memory)[0].weight)
    assert not (tmp_path / "none").exists()


def test_a_new_file_at_the_same_path_is_another_weight(tmp_path):
    cache = tmp_path / "rounded"
    old = RoundedWeights(cache).blocks(_layers(_semantic(tmp_path / "bark", seed=0))[0].weight)
    new_layer = _layers(_semantic(tmp_path / "bark", seed=1))[0]
    got = RoundedWeights(cache).blocks(new_layer.weight)
    assert _same(got, RoundedWeights().blocks(new_layer.weight)) and not _same(got, old)


def test_unreadable_cached_weights_are_ignored_with_one_warning_and_rewritten(tmp_path):
    model = _semantic(tmp_path / "bark")
    cache = tmp_path / "rounded"
    expected = [RoundedWeights(cache).blocks(layer.weight) for layer in _layers(model)]
    files = sorted(cache.iterdir())
    good = [path.read_bytes() for path in files]
    for path, data in zip(files, good, strict=True):
        path.write_bytes(data[: len(data) // 2])
    source = RoundedWeights(cache)
    with pytest.warns(UserWarning, match="ignored the unreadable rounded weights") as caught:
        got = [source.blocks(layer.weight) for layer in _layers(model)]
    assert len(caught) == 1 and all(_same(a, b) for a, b in zip(expected, got, strict=True))
    assert [path.read_bytes() for path in files] == good


def test_an_unwritable_folder_is_skipped_with_one_warning(tmp_path):
    model = _semantic(tmp_path / "bark")
    blocked = tmp_path / "file"
    blocked.write_text("not a folder")
    source = RoundedWeights(blocked / "rounded")
    with pytest.warns(UserWarning, match="could not cache rounded weights") as caught:
        got = [source.blocks(layer.weight) for layer in _layers(model)]
    assert len(caught) == 1
    assert all(_same(RoundedWeights().blocks(layer.weight), g) for layer, g in zip(_layers(model), got, strict=True))


def _age(path, days: float) -> None:
    stamp = time.time() - days * 86400
    os.utime(path, (stamp, stamp))


def test_files_not_read_for_30_days_are_deleted_when_new_ones_are_written(tmp_path):
    """A file read is marked used; one neither read nor written for 30 days (an old checkpoint's, a crashed write's
    temporary) is deleted before new rounded weights are written; recent files stay."""
    layers = _layers(_semantic(tmp_path / "bark"))
    cache = tmp_path / "rounded"
    RoundedWeights(cache).blocks(layers[0].weight)
    (read,) = cache.iterdir()
    stale, recent, temporary = cache / "stale.safetensors", cache / "recent.safetensors", cache / ".x.tmp"
    for path in (stale, recent, temporary):
        path.write_bytes(b"old")
    for path in (read, stale, temporary):
        _age(path, 40)
    _age(recent, 20)
    RoundedWeights(cache).blocks(layers[0].weight)  # read: marked used, nothing written, nothing deleted
    assert time.time() - read.stat().st_mtime < 60 and stale.exists()
    RoundedWeights(cache).blocks(layers[1].weight)  # a new file written: the unused ones go first
    assert not stale.exists() and not temporary.exists()
    assert read.exists() and recent.exists() and len(list(cache.iterdir())) == 3


@pytest.mark.skipif(not onnx_step_available(), reason="onnxruntime or onnx is not installed")
def test_a_step_graph_from_cached_weights_holds_the_same_weights(tmp_path, monkeypatch):
    model = _semantic(tmp_path / "bark")
    built = build_step_graph(model, True)
    build_step_graph(model, True, rounded=RoundedWeights(tmp_path / "rounded"))
    _no_rounding(monkeypatch)
    cached = build_step_graph(model, True, rounded=RoundedWeights(tmp_path / "rounded"))
    assert cached.model == built.model and list(cached.weights) == list(built.weights)
    assert all(np.array_equal(cached.weights[name], built.weights[name]) for name in built.weights)


def test_an_int8_layer_made_from_cached_codes_is_the_layer_rounded_here(tmp_path, monkeypatch):
    layer = _layers(_semantic(tmp_path / "bark"))[1]
    built = Int8Linear(layer)
    Int8Linear(layer, RoundedWeights(tmp_path / "rounded"))
    (cached_file,) = (tmp_path / "rounded").iterdir()
    _no_rounding(monkeypatch)
    cached = Int8Linear(layer, RoundedWeights(tmp_path / "rounded"))
    assert cached.weight.dtype == torch.int8 and torch.equal(cached.weight, built.weight)
    assert torch.equal(cached.scale, built.scale)
    rows = torch.randn(5, layer.in_features, generator=torch.Generator().manual_seed(0))
    assert torch.equal(cached(rows), built(rows))
    assert list((tmp_path / "rounded").iterdir()) == [cached_file]
