"""The fast engine's ONNX Runtime decode step against float32 and against the PyTorch int8 step, its in-place cache
writes, and the measured choice between the two steps."""

import os
import subprocess
import sys
import time

import pytest
import torch
from transformers import BarkModel
from transformers.models.bark.generation_configuration_bark import BarkSemanticGenerationConfig

from bark_vocos.bark import OptimizedBarkStages
from bark_vocos.bark.decoder import DECODE_ENGINES, CausalDecoder
from bark_vocos.bark.int8 import INT8_KERNELS, int8_kernels_available
from bark_vocos.bark.onnx_step import build_step_graph, onnx_step_available, onnx_step_supported
from bark_vocos.kernels import FORCE_VARIABLE, linear_kernel_names
from bark_vocos.testing import SMALL_WINDOWS, random_bark_model

pytestmark = pytest.mark.skipif(not onnx_step_available(), reason="onnxruntime or onnx is not installed")


def _relative(a: torch.Tensor, b: torch.Tensor) -> float:
    return float((a - b).norm() / b.norm())


@pytest.mark.parametrize("batch", [1, 3])
@pytest.mark.parametrize("size", [(32, 2, 2), (128, 2, 4)])
def test_the_onnx_step_is_closer_to_float32_than_the_torch_int8_step(size, batch):
    """One step after a 40-position prompt: logits and the keys/values written at the new position, from the float32
    step, the PyTorch int8 step and the ONNX Runtime step over the same cache."""
    model = random_bark_model(*size, seed=1).semantic
    exact, fast = CausalDecoder(model, "exact"), CausalDecoder(model, "fast")
    assert fast.onnx_step is not None
    exact.allocate(batch, 48)
    fast.allocate(batch, 48)
    generator = torch.Generator().manual_seed(batch)
    prompt = torch.randn(batch, 40, size[0], generator=generator) * 0.5
    token = torch.randint(0, model.config.input_vocab_size, (batch, 1), generator=generator)
    with torch.no_grad():
        exact.forward(prompt, 0)
        for source, target in zip(exact.keys + exact.values, fast.keys + fast.values, strict=True):
            target.copy_(source)
            target[:, :, 41:] = 7.0  # beyond the new position (torch.empty left anything there, NaN included)
        before = [buffer.clone() for buffer in fast.keys + fast.values]
        expected = exact.forward(model.input_embeds_layer(token), 40)
        torch_int8 = fast.forward(model.input_embeds_layer(token), 40)
        torch_keys = [buffer[:, :, 40].clone() for buffer in fast.keys + fast.values]
        got = fast.onnx_forward(token, 40)[:, 0]
        again = fast.onnx_forward(token, 40)[:, 0]
    assert got.shape == expected.shape == (batch, model.config.output_vocab_size) and got.dtype == torch.float32
    assert torch.equal(got, again)  # deterministic, and rewriting position 40 changes nothing
    # 8-bit weights in blocks of 128 (or fewer) inputs and 8-bit activations: measured 0.6-0.7x the error of
    # `Int8Linear`'s per-row weights and 7-bit activations, whose error test_int8.py bounds
    assert _relative(got, expected) < min(torch_int8_error := _relative(torch_int8, expected), 0.03), torch_int8_error
    for buffer, original, reference, torch_written in zip(
        fast.keys + fast.values, before, exact.keys + exact.values, torch_keys, strict=True
    ):
        assert torch.equal(buffer[:, :, :40], original[:, :, :40])  # the prompt's positions are read, not written
        assert torch.equal(buffer[:, :, 41:], original[:, :, 41:])
        assert _relative(buffer[:, :, 40], reference[:, :, 40]) < _relative(torch_written, reference[:, :, 40])


@pytest.mark.parametrize("batch", [1, 3])
def test_the_float32_onnx_step_equals_the_torch_step_to_rounding(batch):
    """The exact engine's ONNX Runtime step computes the same sums as the PyTorch step in another order."""
    model = random_bark_model(128, 2, 4, seed=2).semantic
    torch_step, onnx_step = CausalDecoder(model, "exact"), CausalDecoder(model, "exact")
    generator = torch.Generator().manual_seed(batch)
    for decoder in (torch_step, onnx_step):
        decoder.allocate(batch, 48)
        for buffer in decoder.keys + decoder.values:
            buffer.fill_(7.0)
    prompt = torch.randn(batch, 40, 128, generator=generator) * 0.5
    tokens = torch.randint(0, model.config.input_vocab_size, (batch, 4), generator=generator)
    with torch.no_grad():
        torch_step.forward(prompt, 0)
        onnx_step.forward(prompt, 0)
        for index in range(4):  # several steps: each reads what the previous one wrote
            expected = torch_step.forward(model.input_embeds_layer(tokens[:, index : index + 1]), 40 + index)
            got = onnx_step.onnx_forward(tokens[:, index : index + 1], 40 + index)[:, 0]
            torch.testing.assert_close(got, expected, rtol=1e-5, atol=1e-5)
    for got, expected in zip(onnx_step.keys + onnx_step.values, torch_step.keys + torch_step.values, strict=True):
        torch.testing.assert_close(got, expected, rtol=1e-5, atol=1e-5)  # positions 44-47 untouched (7.0) in both


def test_a_step_past_the_cache_raises():
    decoder = CausalDecoder(random_bark_model(32, 1, 2, seed=0).semantic, "exact")
    decoder.allocate(1, 8)
    with pytest.raises(ValueError, match="9 positions exceeds the cache of 8"):
        decoder.onnx_forward(torch.zeros(1, 1, dtype=torch.long), 8)


def test_unsupported_shapes_keep_the_torch_step():
    model = random_bark_model(24, 1, 2, seed=0).semantic  # head size 12: not a multiple of 8
    assert not onnx_step_supported(model, int8=True) and not onnx_step_supported(model, int8=False)
    assert CausalDecoder(model, "fast").onnx_step is None and CausalDecoder(model, "exact").onnx_step is None
    model = random_bark_model(40, 1, 5, seed=0).semantic  # head size 8, widths 40 and 160: no 8-bit blocks
    assert CausalDecoder(model, "fast").onnx_step is None and CausalDecoder(model, "exact").onnx_step is not None


@pytest.mark.parametrize("engine", ["torch", "onnxruntime"])
def test_each_decode_engine_runs_the_fast_stages(pins, engine):
    pins({DECODE_ENGINES.variable: engine})
    bark = random_bark_model(32, 2, 2, seed=0, initializer_range=0.2, generation=SMALL_WINDOWS)
    stages = OptimizedBarkStages(bark, mode="fast")
    calls = []
    step = stages.semantic.decoder.onnx_step
    stages.semantic.decoder.onnx_step = lambda *args: calls.append(1) or step(*args)
    config = BarkSemanticGenerationConfig(**bark.generation_config.semantic_config)
    input_ids = torch.randint(0, 1000, (2, 64), generator=torch.Generator().manual_seed(0))  # 64: the text window
    options = {"max_new_tokens": 12, "min_new_tokens": 12}
    first = stages.semantic.generate(input_ids, semantic_generation_config=config, **options)
    second = stages.semantic.generate(input_ids, semantic_generation_config=config, **options)
    assert torch.equal(first, second) and first.shape == (2, 12)
    assert len(calls) == (22 if engine == "onnxruntime" else 0)  # 11 steps after each prompt


def test_the_engine_is_chosen_once_per_batch_size_by_timing_steps(pins):
    pins({DECODE_ENGINES.variable: None})
    DECODE_ENGINES.reset()
    bark = random_bark_model(32, 2, 2, seed=0, initializer_range=0.2, generation=SMALL_WINDOWS)
    stages = OptimizedBarkStages(bark, mode="fast")
    config = BarkSemanticGenerationConfig(**bark.generation_config.semantic_config)
    input_ids = torch.randint(0, 1000, (2, 64), generator=torch.Generator().manual_seed(0))  # 64: the text window
    options = {"max_new_tokens": 6, "min_new_tokens": 6}
    stages.semantic.generate(input_ids, semantic_generation_config=config, **options)
    stages.semantic.generate(input_ids[:1], semantic_generation_config=config, **options)
    threads = torch.get_num_threads()
    OptimizedBarkStages(bark).semantic.generate(input_ids, semantic_generation_config=config, **options)
    assert set(DECODE_ENGINES.choices) == {
        (32, 2, 2, threads, True),
        (32, 2, 1, threads, True),
        (32, 2, 2, threads, False),
    }
    assert set(DECODE_ENGINES.choices.values()) <= {"torch", "onnxruntime"}


@pytest.mark.parametrize("kernel", linear_kernel_names())
@pytest.mark.parametrize("engine", ["torch", "onnxruntime"])
@pytest.mark.parametrize("mode", ["exact", "fast"])
def test_a_decoder_computing_some_head_rows_gives_those_logits_bit_for_bit(pins, mode, engine, kernel):
    """The coarse stage's decoder computes only the head rows of ids it can choose: the same values as the whole
    head's in those rows, -inf elsewhere, from a prompt and from steps of either engine, with each float32 kernel.
    (The kernels are pinned: the two heads' shapes differ, so each would time its own choice, and oneDNN and MKL round
    differently, as fbgemm and oneDNN's int8 products do.)"""
    pins({DECODE_ENGINES.variable: engine})
    pins({FORCE_VARIABLE: kernel})
    pins({INT8_KERNELS.variable: int8_kernels_available()[0]})
    model = random_bark_model(128, 2, 4, seed=3).coarse_acoustics
    rows = (10_000, model.config.output_vocab_size)
    whole, part = CausalDecoder(model, mode), CausalDecoder(model, mode, head_rows=rows)
    ids = torch.randint(10_000, 12_000, (2, 30), generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        for decoder in (whole, part):
            decoder.allocate(2, 40)
        pairs = [(whole.feed_ids(ids[:, :20]), part.feed_ids(ids[:, :20]))]
        for index in range(20, 30):
            pairs.append((whole.feed_token(ids[:, index]), part.feed_token(ids[:, index])))
    for expected, got in pairs:
        assert got.shape == expected.shape == (2, model.config.output_vocab_size)
        assert torch.equal(got[:, rows[0] :], expected[:, rows[0] :])
        assert bool((got[:, : rows[0]] == -float("inf")).all())


def test_the_coarse_stage_computes_only_the_rows_it_can_choose():
    bark = random_bark_model(32, 2, 2, seed=0, generation=SMALL_WINDOWS)
    decoder = OptimizedBarkStages(bark).coarse_acoustics.decoder
    assert decoder.head_rows == (10_000, bark.coarse_acoustics.config.output_vocab_size)
    assert decoder.lm_head.weight.shape[0] == bark.coarse_acoustics.config.output_vocab_size - 10_000


@pytest.mark.parametrize("int8", [False, True])
def test_the_step_graph_carries_its_weights_apart_and_the_session_prepacks_the_linear_ones(int8):
    """The serialized graph names its weights as external initializers (serializing bark-small's weights took
    seconds); the session is given the arrays and prepacks the linear layers' into its own memory (a float32 session
    reads the layer norms in place, as the PyTorch step does)."""
    import onnx

    model = random_bark_model(64, 2, 2, seed=3).semantic
    graph = build_step_graph(model, int8)
    weight_bytes = sum(array.nbytes for array in graph.weights.values())
    assert weight_bytes > 4 * len(graph.model)  # the weights are not in the serialized graph
    parsed = onnx.load_from_string(graph.model)
    external = {tensor.name for tensor in parsed.graph.initializer if tensor.data_location == onnx.TensorProto.EXTERNAL}
    assert external == set(graph.weights)
    assert model.lm_head.weight.shape[0] * model.lm_head.weight.shape[1] * (1 if int8 else 4) <= max(
        array.nbytes for array in graph.weights.values()
    )  # the head's weights are among them
    decoder = CausalDecoder(model, "fast" if int8 else "exact")
    decoder.allocate(1, 8)
    token = torch.tensor([[5]])
    with torch.no_grad():
        for buffer in decoder.keys + decoder.values:
            buffer.zero_()
        first = decoder.onnx_forward(token, 0).clone()
        # the float32 arrays given to the session are views of these weights (the embedding tables, bound in place
        # on every step, are not among them)
        for block in model.layers:
            for layer in (block.attn.att_proj, block.attn.out_proj, block.mlp.in_proj, block.mlp.out_proj):
                layer.weight.zero_()
        model.lm_head.weight.zero_()
        assert torch.equal(decoder.onnx_forward(token, 0), first)


def _logits_after_one_token(model, int8: bool) -> torch.Tensor:
    """A fresh decoder's ONNX Runtime step logits after one token, over a zeroed cache."""
    decoder = CausalDecoder(model, "fast" if int8 else "exact")
    decoder.allocate(1, 8, fill=0.0)
    with torch.no_grad():
        return decoder.onnx_forward(torch.tensor([[5]]), 0)


@pytest.mark.parametrize("int8", [False, True])
def test_a_cached_step_graph_is_read_back_and_gives_the_same_logits(int8, tmp_path, pins):
    """The graph is written beside the tuning record once per description and read back by the next session; the
    weights stay out of it (a model of the same shape with other weights reuses the file and gets its own logits)."""
    model = random_bark_model(64, 2, 2, seed=3).semantic
    built = build_step_graph(model, int8)
    first = build_step_graph(model, int8, cache=tmp_path)
    second = build_step_graph(model, int8, cache=tmp_path)
    assert first.cached is None and second.cached is not None and second.cached.parent == tmp_path
    assert second.model == first.model == built.model and list(tmp_path.iterdir()) == [second.cached]
    uncached = _logits_after_one_token(model, int8)
    pins({"BARK_VOCOS_TUNING_RECORD": str(tmp_path / "tuning.json")})
    assert torch.equal(_logits_after_one_token(model, int8), uncached)
    assert [path.name for path in (tmp_path / "onnx-steps").iterdir()] == [second.cached.name]
    other = random_bark_model(64, 2, 2, seed=4).semantic
    assert build_step_graph(other, int8, cache=tmp_path).cached == second.cached
    assert not torch.equal(_logits_after_one_token(other, int8), uncached)
    assert len(list((tmp_path / "onnx-steps").iterdir())) == 1
    assert build_step_graph(model, not int8, cache=tmp_path).cached is None  # another description, another file


def test_an_unused_cached_graph_is_deleted_when_a_new_one_is_written(tmp_path):
    """A graph read is marked used; one not read for 30 days goes when another graph is written."""
    model = random_bark_model(64, 2, 2, seed=3).semantic
    build_step_graph(model, False, cache=tmp_path)
    (read,) = tmp_path.iterdir()
    stale = tmp_path / "step-stale.onnx"
    stale.write_bytes(b"old")
    for path in (read, stale):
        os.utime(path, (time.time() - 40 * 86400,) * 2)
    assert build_step_graph(model, False, cache=tmp_path).cached == read  # read: marked used
    assert stale.exists()
    build_step_graph(model, True, cache=tmp_path)  # another graph written: the unused one goes first
    assert not stale.exists() and read.exists() and len(list(tmp_path.iterdir())) == 2
    assert time.time() - read.stat().st_mtime < 60


def test_a_corrupt_cached_graph_is_ignored_with_one_warning_and_rewritten(tmp_path, pins):
    model = random_bark_model(64, 2, 2, seed=3).semantic
    expected = _logits_after_one_token(model, False)
    pins({"BARK_VOCOS_TUNING_RECORD": str(tmp_path / "tuning.json")})
    build_step_graph(model, False, cache=tmp_path / "onnx-steps")
    (path,) = (tmp_path / "onnx-steps").iterdir()
    good = path.read_bytes()
    path.write_bytes(good[: len(good) // 2])
    with pytest.warns(UserWarning, match="ignored the cached graph") as caught:
        assert torch.equal(_logits_after_one_token(model, False), expected)
    assert len(caught) == 1 and path.read_bytes() == good


def test_an_unwritable_cache_folder_is_skipped_with_one_warning(tmp_path):
    model = random_bark_model(64, 2, 2, seed=3).semantic
    blocked = tmp_path / "file"
    blocked.write_text("not a folder")
    with pytest.warns(UserWarning, match="could not cache the decode-step graph") as caught:
        graph = build_step_graph(model, True, cache=blocked / "onnx-steps")
    assert len(caught) == 1 and graph.cached is None and graph.model == build_step_graph(model, True).model


def test_a_process_with_the_cached_graphs_never_imports_onnx(tmp_path, tiny_bark_dir):
    """What the caches are for: `import onnx` alone costs about half a second of a first call, rounding the 8-bit
    weights again as much for bark-small."""
    script = (
        "import sys, torch; from transformers import BarkModel; from bark_vocos.bark.decoder import CausalDecoder\n"
        f"model = BarkModel.from_pretrained({str(tiny_bark_dir)!r}).semantic\n"
        "for mode in ('exact', 'fast'):\n"
        "    decoder = CausalDecoder(model, mode); decoder.allocate(1, 8, fill=0.0)\n"
        "    decoder.onnx_forward(torch.tensor([[5]]), 0)\n"
        "print('onnx' in sys.modules)\n"
    )
    env = {**os.environ, "BARK_VOCOS_TUNING_RECORD": str(tmp_path / "tuning.json"), "OMP_NUM_THREADS": "1"}
    runs = [subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=300)]
    # a file written again is a new file (written beside, then renamed over): another inode; a read only marks it used
    rounded = {path: path.stat().st_ino for path in (tmp_path / "rounded-weights").iterdir()}
    runs.append(subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=300))
    assert [run.returncode for run in runs] == [0, 0], runs[-1].stderr[-2000:]
    assert [run.stdout.split()[-1] for run in runs] == ["True", "False"]
    assert len(list((tmp_path / "onnx-steps").iterdir())) == 2  # the float32 step and the 8-bit one
    # the 8-bit weights too were read back, not rounded and written again: for each linear layer and the head, the
    # step graph's codes (the exact engine's drafts and the fast engine's steps share them) and the int8 layer's
    assert len(rounded) == 2 * (4 * len(BarkModel.from_pretrained(tiny_bark_dir).semantic.layers) + 1)
    assert {path: path.stat().st_ino for path in (tmp_path / "rounded-weights").iterdir()} == rounded
