"""The fast engine's ONNX Runtime decode step against float32 and against the PyTorch int8 step, its in-place cache
writes, and the measured choice between the two steps."""

import pytest
import torch
from transformers.models.bark.generation_configuration_bark import BarkSemanticGenerationConfig

from bark_vocos.bark.fast import DECODE_ENGINES, FastBarkStages, _CausalDecoder
from bark_vocos.bark.onnx_step import onnx_step_available, onnx_step_supported
from pipelines.commands.bench_pipeline import SMALL_WINDOWS, random_bark_model

pytestmark = pytest.mark.skipif(not onnx_step_available(), reason="onnxruntime or onnx is not installed")


def _relative(a: torch.Tensor, b: torch.Tensor) -> float:
    return float((a - b).norm() / b.norm())


@pytest.mark.parametrize("batch", [1, 3])
@pytest.mark.parametrize("size", [(32, 2, 2), (128, 2, 4)])
def test_the_onnx_step_is_closer_to_float32_than_the_torch_int8_step(size, batch):
    """One step after a 40-position prompt: logits and the keys/values written at the new position, from the float32
    step, the PyTorch int8 step and the ONNX Runtime step over the same cache."""
    model = random_bark_model(*size, seed=1).semantic
    exact, fast = _CausalDecoder(model, "exact"), _CausalDecoder(model, "fast")
    assert fast.onnx_step is not None
    exact.allocate(batch, 48)
    fast.allocate(batch, 48)
    generator = torch.Generator().manual_seed(batch)
    prompt = torch.randn(batch, 40, size[0], generator=generator) * 0.5
    token = torch.randn(batch, 1, size[0], generator=generator) * 0.5
    with torch.no_grad():
        exact.forward(prompt, 0)
        for source, target in zip(exact.keys + exact.values, fast.keys + fast.values, strict=True):
            target.copy_(source)
            target[:, :, 41:] = 7.0  # beyond the new position (torch.empty left anything there, NaN included)
        before = [buffer.clone() for buffer in fast.keys + fast.values]
        expected = exact._forward(token, 40)
        torch_int8 = fast._forward(token, 40)
        torch_keys = [buffer[:, :, 40].clone() for buffer in fast.keys + fast.values]
        got = fast._onnx_forward(token, 40)
        again = fast._onnx_forward(token, 40)
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


def test_unsupported_shapes_keep_the_torch_step():
    model = random_bark_model(24, 1, 2, seed=0).semantic  # head size 12: not a multiple of 8
    assert not onnx_step_supported(model)
    assert _CausalDecoder(model, "fast").onnx_step is None
    assert _CausalDecoder(random_bark_model(32, 1, 2, seed=0).semantic, "exact").onnx_step is None  # fp32: never


@pytest.mark.parametrize("engine", ["torch", "onnxruntime"])
def test_each_decode_engine_runs_the_fast_stages(engine, monkeypatch):
    monkeypatch.setenv(DECODE_ENGINES.variable, engine)
    bark = random_bark_model(32, 2, 2, seed=0, initializer_range=0.2, generation=SMALL_WINDOWS)
    stages = FastBarkStages(bark, mode="fast")
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


def test_the_engine_is_chosen_once_per_batch_size_by_timing_steps(monkeypatch):
    monkeypatch.delenv(DECODE_ENGINES.variable, raising=False)
    monkeypatch.setattr(DECODE_ENGINES, "choices", {})
    bark = random_bark_model(32, 2, 2, seed=0, initializer_range=0.2, generation=SMALL_WINDOWS)
    stages = FastBarkStages(bark, mode="fast")
    config = BarkSemanticGenerationConfig(**bark.generation_config.semantic_config)
    input_ids = torch.randint(0, 1000, (2, 64), generator=torch.Generator().manual_seed(0))  # 64: the text window
    options = {"max_new_tokens": 6, "min_new_tokens": 6}
    stages.semantic.generate(input_ids, semantic_generation_config=config, **options)
    stages.semantic.generate(input_ids[:1], semantic_generation_config=config, **options)
    threads = torch.get_num_threads()
    assert set(DECODE_ENGINES.choices) == {(32, 2, 2, threads), (32, 2, 1, threads)}
    assert set(DECODE_ENGINES.choices.values()) <= {"torch", "onnxruntime"}
