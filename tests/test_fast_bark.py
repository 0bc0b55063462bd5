"""OptimizedBarkStages against transformers' Bark stages on a tiny random model saved to and loaded from disk.

Every test runs twice, with the decode steps forced to PyTorch and to ONNX Runtime (`DECODE_ENGINES`), so that each
exact-equality test holds for both implementations."""

import contextlib
import json

import pytest
import torch
from torch import nn
from transformers import BarkModel
from transformers.models.bark.generation_configuration_bark import (
    BarkCoarseGenerationConfig,
    BarkFineGenerationConfig,
    BarkSemanticGenerationConfig,
)

from bark_vocos import timing
from bark_vocos.bark import BarkGenerationConfigs, OptimizedBarkStages, generate_bark_tokens
from bark_vocos.bark.attention import ATTENTION_KERNELS, EXACT_ATTENTION_KERNELS, HEADS_KERNEL, attention
from bark_vocos.bark.decoder import DECODE_ENGINES, DECODE_INT8_KERNELS, DECODE_KERNELS
from bark_vocos.bark.int8 import INT8_KERNELS, Int8Linear, int8_kernels_available
from bark_vocos.bark.onnx_step import onnx_step_available
from bark_vocos.choices import AttentionKey, StepEngineKey
from bark_vocos.kernels import FORCE_VARIABLE, linear_kernel_names, rows_bucket
from bark_vocos.testing import SMALL_WINDOWS, random_bark_model
from pipelines.benchmarks import pipeline as bench_pipeline
from pipelines.benchmarks.engine_report import attention_choices, decode_engines
from pipelines.commands import main

ENGINES = ["torch", "onnxruntime"] if onnx_step_available() else ["torch"]


@pytest.fixture(autouse=True, params=ENGINES)
def decode_engine(pins, request) -> str:
    pins({DECODE_ENGINES.variable: request.param})
    return request.param


@pytest.fixture(scope="module")
def bark(tmp_path_factory) -> BarkModel:
    path = tmp_path_factory.mktemp("tiny-bark")
    # Bark's windows shrunk (64 text tokens, 10-token coarse windows over a 60-token history, 64-frame fine
    # windows) so that every code path, sliding windows included, runs in a few seconds
    model = random_bark_model(32, 2, 2, seed=0, initializer_range=0.2, generation=SMALL_WINDOWS)
    model.save_pretrained(path)
    return BarkModel.from_pretrained(path).eval()


@pytest.fixture(scope="module")
def configs(bark):
    generation = bark.generation_config
    return {
        "semantic_generation_config": BarkSemanticGenerationConfig(**generation.semantic_config),
        "coarse_generation_config": BarkCoarseGenerationConfig(**generation.coarse_acoustics_config),
        "fine_generation_config": BarkFineGenerationConfig(**generation.fine_acoustics_config),
    }


def _generate(stages, bark: BarkModel, input_ids: torch.Tensor, **kwargs) -> tuple[list[torch.Tensor], torch.Tensor]:
    """The one orchestration on `stages`: each item's fine codes `(8, T_i)` and the frame counts `(B,)`."""
    items = generate_bark_tokens(stages, BarkGenerationConfigs.from_bark(bark), input_ids, **kwargs)
    return [item.fine for item in items], torch.tensor([item.frames for item in items])


def _trimmed(padded: torch.Tensor, frames: torch.Tensor) -> list[torch.Tensor]:
    """Each item of a padded `(B, 8, T)` batch cut to its own frame count."""
    return [codes[:, :n] for codes, n in zip(padded, frames.tolist(), strict=True)]


def _text(batch: int, seed: int = 1) -> tuple[torch.Tensor, torch.Tensor]:
    generator = torch.Generator().manual_seed(seed)
    input_ids = torch.randint(0, 20_000, (batch, 64), generator=generator)
    attention_mask = torch.zeros(batch, 64, dtype=torch.long)
    for row in range(batch):
        attention_mask[row, : 30 + 20 * row] = 1
    return input_ids, attention_mask


def _semantic_tokens(batch: int, length: int, seed: int = 2) -> torch.Tensor:
    generator = torch.Generator().manual_seed(seed)
    tokens = torch.randint(0, 10_000, (batch, length), generator=generator)
    tokens[1:, length - 15 :] = 10_000  # EOS then padding, as the semantic stage returns a finished row
    return tokens


@pytest.mark.parametrize(
    "options",
    [
        {"max_new_tokens": 24, "min_new_tokens": 24},
        {"max_new_tokens": 16},
        {"max_new_tokens": 16, "min_eos_p": 0.05},
    ],
)
def test_semantic_greedy_matches_transformers(bark, configs, options):
    input_ids, attention_mask = _text(2)
    config = configs["semantic_generation_config"]
    expected = bark.semantic.generate(
        input_ids, semantic_generation_config=config, attention_mask=attention_mask, **options
    )
    fast = OptimizedBarkStages(bark)
    got = fast.semantic.generate(input_ids, semantic_generation_config=config, attention_mask=attention_mask, **options)
    assert got.shape == expected.shape
    assert torch.equal(got, expected)
    if "min_new_tokens" in options:
        assert got.shape == (2, 24)


def test_coarse_greedy_matches_transformers_across_shifting_windows(bark, configs):
    # 30 semantic tokens -> 90 coarse tokens: 9 windows of 10, from the 7th on past the 60-token history
    semantic = _semantic_tokens(2, 30)
    kwargs = {key: configs[key] for key in ("semantic_generation_config", "coarse_generation_config")}
    expected, expected_lengths = bark.coarse_acoustics.generate(semantic.clone(), return_output_lengths=True, **kwargs)
    got, lengths = OptimizedBarkStages(bark).coarse_acoustics.generate(
        semantic.clone(), return_output_lengths=True, **kwargs
    )
    assert got.shape == expected.shape == (2, 90)
    assert torch.equal(got, expected)
    assert torch.equal(lengths, expected_lengths)
    assert lengths.tolist() == [90, 44]


def test_fine_matches_transformers_with_history_and_four_windows(bark, configs, history_prompt):
    generator = torch.Generator().manual_seed(4)
    coarse = torch.randint(10_000, 10_000 + 2048, (2, 2 * 100), generator=generator)
    expected = bark.fine_acoustics.generate(coarse, history_prompt=history_prompt, **configs)
    got = OptimizedBarkStages(bark).fine_acoustics.generate(coarse, history_prompt=history_prompt, **configs)
    assert got.shape == expected.shape == (2, 8, 100)
    assert torch.equal(got, expected)
    assert int(got.min()) >= 0 and int(got.max()) < 1024


def test_end_to_end_matches_transformers_stages_with_speaker_prompt(bark, configs, history_prompt):
    input_ids, attention_mask = _text(2, seed=5)
    semantic = bark.semantic.generate(
        input_ids,
        history_prompt=history_prompt,
        attention_mask=attention_mask,
        semantic_generation_config=configs["semantic_generation_config"],
        max_new_tokens=20,
        min_new_tokens=20,
    )
    coarse, lengths = bark.coarse_acoustics.generate(
        semantic,
        history_prompt=history_prompt,
        return_output_lengths=True,
        semantic_generation_config=configs["semantic_generation_config"],
        coarse_generation_config=configs["coarse_generation_config"],
    )
    expected = bark.fine_acoustics.generate(coarse, history_prompt=history_prompt, **configs)
    got, frames = _generate(
        OptimizedBarkStages(bark),
        bark,
        input_ids,
        history_prompt=history_prompt,
        attention_mask=attention_mask,
        semantic_max_new_tokens=20,
        semantic_min_new_tokens=20,
    )
    assert torch.equal(frames, lengths // 2)
    assert all(torch.equal(a, b) for a, b in zip(got, _trimmed(expected, frames), strict=True))


def _seeded(seed: int, generate, *args, **kwargs):
    """`generate(*args, **kwargs)` after `torch.manual_seed(seed)`; returns (output, the global RNG state after)."""
    torch.manual_seed(seed)
    output = generate(*args, **kwargs)
    return output, torch.get_rng_state()


@pytest.mark.parametrize(
    "options",
    [
        {"temperature": 0.7},  # suno/bark's setting, with transformers' default top_k=50
        {"temperature": 1.3, "top_k": 5},
        {"top_p": 0.9},
        {"temperature": 0.7, "min_eos_p": 0.01},
    ],
)
def test_semantic_sampling_matches_transformers_for_a_seed(bark, configs, history_prompt, options):
    input_ids, attention_mask = _text(2, seed=6)
    kwargs = {
        "semantic_generation_config": configs["semantic_generation_config"],
        "history_prompt": history_prompt,
        "attention_mask": attention_mask,
        "max_new_tokens": 24,
        "do_sample": True,
        **options,
    }
    expected, expected_rng = _seeded(11, bark.semantic.generate, input_ids, **kwargs)
    got, rng = _seeded(11, OptimizedBarkStages(bark).semantic.generate, input_ids, **kwargs)
    assert got.shape == expected.shape
    assert torch.equal(got, expected)
    assert torch.equal(rng, expected_rng)  # the global RNG was consumed identically
    # the sampling did draw: another seed gives other tokens
    other, _ = _seeded(12, OptimizedBarkStages(bark).semantic.generate, input_ids, **kwargs)
    assert not torch.equal(other, got)


def test_coarse_sampling_matches_transformers_for_a_seed(bark, configs, history_prompt):
    semantic = _semantic_tokens(2, 30, seed=7)
    kwargs = {
        "semantic_generation_config": configs["semantic_generation_config"],
        "coarse_generation_config": configs["coarse_generation_config"],
        "history_prompt": history_prompt,
        "return_output_lengths": True,
        "do_sample": True,
        "temperature": 0.7,
    }
    (expected, expected_lengths), expected_rng = _seeded(13, bark.coarse_acoustics.generate, semantic.clone(), **kwargs)
    (got, lengths), rng = _seeded(13, OptimizedBarkStages(bark).coarse_acoustics.generate, semantic.clone(), **kwargs)
    assert got.shape == expected.shape == (2, 90)
    assert torch.equal(got, expected)
    assert torch.equal(lengths, expected_lengths)
    assert torch.equal(rng, expected_rng)


def test_fine_sampling_matches_transformers_for_a_seed(bark, configs, history_prompt):
    generator = torch.Generator().manual_seed(8)
    coarse = torch.randint(10_000, 10_000 + 2048, (2, 2 * 100), generator=generator)
    kwargs = {"history_prompt": history_prompt, "temperature": 0.5, **configs}  # suno/bark's fine temperature
    expected, expected_rng = _seeded(14, bark.fine_acoustics.generate, coarse, **kwargs)
    got, rng = _seeded(14, OptimizedBarkStages(bark).fine_acoustics.generate, coarse, **kwargs)
    greedy = OptimizedBarkStages(bark).fine_acoustics.generate(coarse, history_prompt=history_prompt, **configs)
    assert not torch.equal(got, greedy)  # the sampling did draw
    assert got.shape == expected.shape == (2, 8, 100)
    assert torch.equal(got, expected)
    assert torch.equal(rng, expected_rng)


def test_end_to_end_sampling_matches_bark_generate_for_a_seed(bark, history_prompt, monkeypatch):
    """Batch of two texts with an attention mask and a speaker prompt, sampled with suno/bark's settings."""
    input_ids, attention_mask = _text(2, seed=9)
    seen = {}

    def spy(fine_output, output_lengths=None):
        seen["fine"], seen["lengths"] = fine_output.clone(), output_lengths
        return torch.zeros(fine_output.shape[0], 320)

    monkeypatch.setattr(bark, "codec_decode", spy)
    kwargs = {"history_prompt": history_prompt, "attention_mask": attention_mask}
    options = {"do_sample": True, "temperature": 0.7, "fine_temperature": 0.5}
    options |= {"semantic_max_new_tokens": 24, "min_eos_p": 0.01}
    _, expected_rng = _seeded(15, bark.generate, input_ids, return_output_lengths=True, **kwargs, **options)
    (got, frames), rng = _seeded(15, _generate, OptimizedBarkStages(bark), bark, input_ids, **kwargs, **options)
    assert torch.equal(frames, seen["lengths"])
    assert all(torch.equal(a, b) for a, b in zip(got, _trimmed(seen["fine"], frames), strict=True))
    assert torch.equal(rng, expected_rng)


class _Recorder:
    """A transformers streamer that records every `put` and `end`."""

    def __init__(self):
        self.calls: list = []

    def put(self, value: torch.Tensor) -> None:
        self.calls.append(value.tolist())

    def end(self) -> None:
        self.calls.append("end")


def test_streamer_gets_what_transformers_gives_it(bark, configs, monkeypatch):
    """The fast loops honour `streamer` (the pipeline's progress bars) instead of falling back to transformers."""
    input_ids, attention_mask = _text(2)
    semantic_kwargs = {"semantic_generation_config": configs["semantic_generation_config"], "max_new_tokens": 12}
    coarse_kwargs = {key: configs[key] for key in ("semantic_generation_config", "coarse_generation_config")}
    semantic = _semantic_tokens(2, 10)
    expected, got = _Recorder(), _Recorder()
    bark.semantic.generate(input_ids, attention_mask=attention_mask, streamer=expected, **semantic_kwargs)
    bark.coarse_acoustics.generate(semantic.clone(), streamer=expected, **coarse_kwargs)
    fast = OptimizedBarkStages(bark)

    def fallback(*args, **kwargs):
        raise AssertionError("the fast loop fell back to transformers' generate")

    monkeypatch.setattr(bark.semantic, "generate", fallback)
    monkeypatch.setattr(bark.coarse_acoustics, "generate", fallback)
    fast.semantic.generate(input_ids, attention_mask=attention_mask, streamer=got, **semantic_kwargs)
    fast.coarse_acoustics.generate(semantic.clone(), streamer=got, **coarse_kwargs)
    assert got.calls == expected.calls
    assert expected.calls.count("end") == 1 + 3  # one semantic generation, three 10-token coarse windows


def test_unsupported_option_runs_transformers_method(bark, configs):
    input_ids, attention_mask = _text(1)
    kwargs = {"semantic_generation_config": configs["semantic_generation_config"], "attention_mask": attention_mask}
    expected = bark.semantic.generate(input_ids, max_new_tokens=20, repetition_penalty=1.5, **kwargs)
    plain = bark.semantic.generate(input_ids, max_new_tokens=20, **kwargs)
    got = OptimizedBarkStages(bark).semantic.generate(input_ids, max_new_tokens=20, repetition_penalty=1.5, **kwargs)
    assert torch.equal(got, expected)
    assert not torch.equal(expected, plain)  # the option did change the output, so it was honoured


def test_sampling_is_seeded_and_in_range(bark):
    input_ids, attention_mask = _text(1)
    fast = OptimizedBarkStages(bark)
    kwargs = {"attention_mask": attention_mask, "semantic_max_new_tokens": 16, "semantic_min_new_tokens": 16}
    runs = []
    for _ in range(2):
        torch.manual_seed(7)
        runs.append(_generate(fast, bark, input_ids, do_sample=True, temperature=0.7, **kwargs)[0][0])
    assert torch.equal(runs[0], runs[1])
    assert runs[0].shape == (8, 24)
    assert int(runs[0].min()) >= 0 and int(runs[0].max()) < 1024


def test_fast_mode_quantises_a_copy_and_stays_deterministic(bark):
    input_ids, attention_mask = _text(1)
    kwargs = {"attention_mask": attention_mask, "semantic_max_new_tokens": 16, "semantic_min_new_tokens": 16}
    fast = OptimizedBarkStages(bark, mode="fast")
    first = _generate(fast, bark, input_ids, **kwargs)[0][0]
    second = _generate(fast, bark, input_ids, **kwargs)[0][0]
    exact = _generate(OptimizedBarkStages(bark), bark, input_ids, **kwargs)[0][0]
    assert torch.equal(first, second)
    assert first.shape == exact.shape == (8, 24)
    assert int(first.min()) >= 0 and int(first.max()) < 1024
    assert type(bark.semantic.layers[0].attn.att_proj) is nn.Linear  # the transformers model is untouched
    assert isinstance(fast.semantic.decoder.linears[0].att_proj, Int8Linear)
    assert isinstance(fast.fine_acoustics.lm_heads[0], Int8Linear)


@pytest.mark.parametrize("kernel", ["onednn", "aten"])
def test_exact_matches_transformers_with_either_float32_kernel(pins, bark, configs, history_prompt, kernel):
    """The exact engine's linear layers go through the measured kernel choice; both kernels give transformers' codes
    (decoding rows 1-2 in the semantic stage, 64-frame windows in the fine stage)."""
    pins({FORCE_VARIABLE: kernel})
    input_ids, attention_mask = _text(2)
    config = configs["semantic_generation_config"]
    options = {"attention_mask": attention_mask, "max_new_tokens": 16}
    expected = bark.semantic.generate(input_ids, semantic_generation_config=config, **options)
    got = OptimizedBarkStages(bark).semantic.generate(input_ids, semantic_generation_config=config, **options)
    assert torch.equal(got, expected)
    generator = torch.Generator().manual_seed(4)
    coarse = torch.randint(10_000, 10_000 + 2048, (2, 2 * 100), generator=generator)
    expected = bark.fine_acoustics.generate(coarse, history_prompt=history_prompt, **configs)
    got = OptimizedBarkStages(bark).fine_acoustics.generate(coarse, history_prompt=history_prompt, **configs)
    assert torch.equal(got, expected)


@pytest.mark.parametrize("attention", ["float32", HEADS_KERNEL])
def test_exact_fine_matches_transformers_with_either_attention(pins, bark, configs, history_prompt, attention):
    """The exact engine's fine windows (no mask, not causal) are attended to by SDPA or head by head, as a timing
    chooses; both give transformers' codes (two items, a history and two 64-frame windows)."""
    if attention == HEADS_KERNEL and "onednn" not in linear_kernel_names():
        pytest.skip("attention head by head needs torch's oneDNN linear")
    pins({EXACT_ATTENTION_KERNELS.variable: attention})
    EXACT_ATTENTION_KERNELS.reset()
    generator = torch.Generator().manual_seed(4)
    coarse = torch.randint(10_000, 10_000 + 2048, (2, 2 * 100), generator=generator)
    expected = bark.fine_acoustics.generate(coarse, history_prompt=history_prompt, **configs)
    got = OptimizedBarkStages(bark).fine_acoustics.generate(coarse, history_prompt=history_prompt, **configs)
    assert torch.equal(got, expected)


@pytest.mark.skipif("onednn" not in linear_kernel_names(), reason="attention head by head needs torch's oneDNN linear")
def test_attention_head_by_head_is_sdpa_within_float32_rounding_and_a_timed_candidate(pins, monkeypatch):
    """Unmasked, non-causal attention: per head it gives SDPA's result to float32 rounding, in memory that transposes
    back to `(B, T, H * D)` without a copy; both engines time it against SDPA (the fast one against bfloat16 too),
    and where a mask or causality rules it out nothing else changes."""
    for cache in (ATTENTION_KERNELS, EXACT_ATTENTION_KERNELS):
        pins({cache.variable: None})
        cache.reset()
    generator = torch.Generator().manual_seed(0)
    query, key, value = (torch.randn(3, 4, 50, 16, generator=generator) for _ in range(3))
    expected = torch.nn.functional.scaled_dot_product_attention(query, key, value)
    pins({EXACT_ATTENTION_KERNELS.variable: HEADS_KERNEL})
    got = attention(query, key, value, None, False, fast=False)
    torch.testing.assert_close(got, expected, rtol=1e-5, atol=1e-6)
    assert got.transpose(1, 2).is_contiguous()
    causal = torch.nn.functional.scaled_dot_product_attention(query, key, value, is_causal=True)
    assert torch.equal(attention(query, key, value, None, True, fast=False), causal)  # forced, but not applicable
    pins({EXACT_ATTENTION_KERNELS.variable: None})
    timed: list[list[str]] = []

    def record(candidates, repeats=5, cold=True):
        timed.append(sorted(candidates))
        assert all(run().shape[0] == 1 for run in candidates.values())  # timed on the first sequence
        return HEADS_KERNEL

    monkeypatch.setattr(timing, "fastest", record)
    torch.testing.assert_close(attention(query, key, value, None, False, fast=False), expected, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(attention(query, key, value, None, False, fast=True), expected, rtol=1e-5, atol=1e-6)
    assert timed == [["float32", HEADS_KERNEL], ["bfloat16", "float32", HEADS_KERNEL]]
    assert torch.equal(attention(query, key, value, None, True, fast=False), causal)  # exact, causal: SDPA, untimed
    assert len(timed) == 2


def test_decode_steps_choose_one_kernel_per_batch_size_by_timing_whole_steps(pins, bark, configs):
    pins({DECODE_ENGINES.variable: "torch"})
    pins({FORCE_VARIABLE: None})
    DECODE_KERNELS.reset()
    input_ids, attention_mask = _text(2)
    config = configs["semantic_generation_config"]
    options = {"attention_mask": attention_mask, "max_new_tokens": 8, "min_new_tokens": 8}
    expected = bark.semantic.generate(input_ids, semantic_generation_config=config, **options)
    got = OptimizedBarkStages(bark).semantic.generate(input_ids, semantic_generation_config=config, **options)
    assert torch.equal(got, expected)  # the timing runs rewrite the same keys and values: same codes
    key = (bark.semantic.config.hidden_size, bark.semantic.config.num_layers, 2, torch.get_num_threads())
    assert list(DECODE_KERNELS.choices) == [key] and DECODE_KERNELS.choices[key] in linear_kernel_names()
    DECODE_KERNELS.reset()
    pins({INT8_KERNELS.variable: None})
    DECODE_INT8_KERNELS.reset()
    INT8_KERNELS.reset()
    OptimizedBarkStages(bark, mode="fast").semantic.generate(input_ids, semantic_generation_config=config, **options)
    assert DECODE_KERNELS.choices == {}
    assert list(DECODE_INT8_KERNELS.choices) == [key] and DECODE_INT8_KERNELS.choices[key] in int8_kernels_available()
    # per layer only outside the steps: at the steps' 2 rows, only the head of the prompt's last position chose
    step_rows = [out for rows, _, out, _, _ in INT8_KERNELS.choices if rows == rows_bucket(2)]
    assert step_rows == [bark.semantic.config.output_vocab_size]


@pytest.mark.parametrize("frames", [20, 40, 100])
@pytest.mark.parametrize("with_history", [False, True])
def test_fast_fine_attends_only_over_the_frames_that_exist(bark, configs, history_prompt, frames, with_history):
    """Fast mode runs one unpadded window when history and frames fit in the 64-frame window; longer inputs take
    transformers' sliding windows. Each window is seen by one pass per predicted codebook (6)."""
    fast = OptimizedBarkStages(bark, mode="fast").fine_acoustics
    windows = []
    logits = fast.logits
    fast.logits = lambda codebook, buffer: windows.append(buffer.shape[1]) or logits(codebook, buffer)
    generator = torch.Generator().manual_seed(frames)
    coarse = torch.randint(10_000, 10_000 + 2048, (2, 2 * frames), generator=generator)
    prompt = history_prompt if with_history else None
    got = fast.generate(coarse, history_prompt=prompt, **configs)
    assert got.shape == (2, 8, frames)
    assert int(got.min()) >= 0 and int(got.max()) < 1024
    window = configs["fine_generation_config"].max_fine_input_length
    history = min(450, configs["fine_generation_config"].max_fine_history_length) if with_history else 0
    if history + frames <= window:
        assert windows == [history + frames] * 6
    else:
        assert set(windows) == {window} and len(windows) % 6 == 0
    assert torch.equal(fast.generate(coarse, history_prompt=prompt, **configs), got)  # deterministic


def test_caller_mistakes_raise(bark, configs):
    with pytest.raises(ValueError, match="'exact', 'fast'"):
        OptimizedBarkStages(bark, mode="turbo")
    with pytest.raises(TypeError, match="BarkModel"):
        OptimizedBarkStages(bark.semantic)
    with pytest.raises(ValueError, match="semantic_generation_config"):
        OptimizedBarkStages(bark).semantic.generate(torch.zeros(1, 64, dtype=torch.long))
    with pytest.raises(ValueError, match="coarse_generation_config"):
        OptimizedBarkStages(bark).coarse_acoustics.generate(
            torch.zeros(1, 10, dtype=torch.long), semantic_generation_config=configs["semantic_generation_config"]
        )


def test_bench_pipeline_quick_writes_ratios(tmp_path, capsys, decode_engine, monkeypatch):
    built = []

    class CountedStages(OptimizedBarkStages):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            built.append(self.mode)

    monkeypatch.setattr(bench_pipeline, "OptimizedBarkStages", CountedStages)
    out = tmp_path / "bench.json"
    argv = ["bench", "pipeline", "--quick", "--semantic-tokens", "8", "--long-form-sentences", "2"]
    assert main(argv + ["--long-form-tokens", "4", "--repeats", "2", "--out", str(out)]) == 0
    results = json.loads(out.read_text())
    assert results["repeats"] == 2 and len(results["exact"]["speedup_per_round"]) == 2
    assert results["device"] == "cpu" and results["dtype"] == "float32"
    roofline = results["exact"]["roofline"]
    assert set(roofline) == {"semantic", "coarse", "fine", "decode"}
    assert all(stage["seconds"] > 0 and stage["bytes_read"] > 0 and stage["flops"] > 0 for stage in roofline.values())
    assert results["fast"]["roofline"]["semantic"]["bytes_read"] < roofline["semantic"]["bytes_read"]  # int8 weights
    rounds = results["exact"]["speedup_per_round"]  # the reported ratio is the median (of two: their mean)
    assert results["exact"]["speedup"]["total"] == pytest.approx(
        (rounds[0]["total"] + rounds[1]["total"]) / 2, abs=0.01
    )
    assert "random weights" in results["note"] and "random weights" in capsys.readouterr().out
    assert results["decode_engines"] == {"forced": decode_engine}  # this module forces each engine in turn
    assert results["exact"]["identical_tokens_vs_reference"] == {"semantic": 1.0, "coarse": 1.0, "fine": 1.0}
    assert set(results["exact"]["speedup"]) == {"semantic", "coarse", "fine", "decode", "total"}
    assert all(value > 0 for value in results["fast"]["speedup"].values())
    assert 0.0 <= results["fast"]["stage_agreement_vs_fp32"]["fine_given_reference_coarse"] <= 1.0
    # fast-mode codes that differ from fp32 give different Vocos audio; identical codes would give exactly 0
    tokens_all_equal = results["fast"]["identical_tokens_vs_reference"]["fine"] == 1.0
    assert (results["fast"]["vocos_audio_relative_difference_vs_fp32_codes"] == 0.0) == tokens_all_equal
    long_form = results["long_form"]
    assert long_form["mode"] == "fast" and long_form["reference_one_after_another_s"] > 0
    for seconds, speedup in (("ours_batched_s", "speedup"), ("ours_batched_first_run_s", "speedup_first_run")):
        assert long_form[seconds] > 0
        ratio = long_form["reference_one_after_another_s"] / long_form[seconds]  # from seconds rounded to 1 ms
        assert long_form[speedup] == pytest.approx(ratio, abs=0.01 + 0.002 / long_form[seconds] * ratio)
    assert results["long_form"]["sentences"] == 2
    assert built == ["exact", "fast"]  # the long form runs the fast engine the rounds ran, as a pipeline keeps its own
    assert set(results["first_call_s"]) == {"exact", "fast"} and all(t > 0 for t in results["first_call_s"].values())
    for mode in ("exact", "fast"):  # where the last round's time went, part by part
        breakdown = results[mode]["time_breakdown_last_round"]
        assert set(breakdown) == {"semantic", "coarse", "fine"}
        for stage in ("semantic", "coarse"):
            part = breakdown[stage]
            assert part["prompt_calls"] >= 1 and part["decoding_calls"] >= 1
            assert part["other_s"] == pytest.approx(part["seconds"] - part["prompt_s"] - part["decoding_s"], abs=2e-3)
            assert part["other_s"] >= -2e-3  # the parts are inside the stage's time (1 ms rounding each)
        # 8 semantic tokens: the prompt's logits give the first, then 7 one-token steps, or speculative rounds
        plain_steps = mode == "fast" or decode_engine == "torch"
        assert breakdown["semantic"]["decoding_calls"] == (7 if plain_steps else 1)
        fine_passes = breakdown["fine"]["passes_calls"]
        assert fine_passes >= 6 and fine_passes % 6 == 0  # six codebooks per window
        steps = results[mode]["decode_step_alone"]
        assert set(steps) == {"semantic", "coarse"}
        for step in steps.values():
            assert step["ms"] > 0 and step["megabytes"] > 0
            assert step["gb_per_s"] == pytest.approx(step["megabytes"] / step["ms"], rel=0.05)
    exact_step, fast_step = results["exact"]["decode_step_alone"], results["fast"]["decode_step_alone"]
    assert fast_step["semantic"]["megabytes"] < exact_step["semantic"]["megabytes"]  # 8-bit weights
    speculation = results["speculation"]  # the draft count chosen, and tokens per timed round per count tried
    assert set(speculation) == {"semantic", "coarse"}
    if decode_engine == "torch":  # PyTorch steps forced: no speculation
        assert all(stage == {"chosen": 0, "tokens_per_round": {}} for stage in speculation.values())
    else:
        assert speculation["coarse"]["tokens_per_round"]
        for stage in speculation.values():
            assert all(1.0 <= tokens <= int(d) + 1 for d, tokens in stage["tokens_per_round"].items())


def test_bench_pipeline_rejects_bad_sizes(capsys):
    assert main(["bench", "pipeline", "--quick", "--semantic-tokens", "0"]) == 1
    assert "--semantic-tokens must be >= 1, got 0" in capsys.readouterr().err


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the refusals of a machine without CUDA")
@pytest.mark.parametrize(
    ("option", "message"),
    [
        (["--dtype", "float16"], "--dtype float16 needs --device cuda: on the CPU the engines run float32"),
        (["--device", "cuda"], "device 'cuda' asked for, but CUDA is not available here"),
        (["--device", "tpu"], "unknown device 'tpu'"),
    ],
)
def test_bench_pipeline_checks_device_and_dtype_before_running(capsys, option, message):
    assert main(["bench", "pipeline", "--quick", *option]) == 1
    captured = capsys.readouterr()
    assert message in captured.err
    assert "random weights" not in captured.out  # refused before the benchmark started


def test_bench_pipeline_checks_its_output_before_running(tmp_path, capsys):
    out = tmp_path / "missing" / "bench.json"
    assert main(["bench", "pipeline", "--quick", "--out", str(out)]) == 1
    captured = capsys.readouterr()
    assert "output folder does not exist" in captured.err
    assert "random weights" not in captured.out  # refused before the benchmark started
    assert not out.parent.exists()


def test_roofline_counts_follow_the_model_shape(bark):
    from bark_vocos.testing import random_vocoder
    from pipelines.benchmarks.roofline import stage_floors

    vocoder = random_vocoder(quick=True, seed=0)
    floors = {f.stage: f for f in stage_floors(bark, vocoder, 20, bandwidth=1e10, peak=1e11)}
    weights = sum(layer.weight.numel() for layer in bark.semantic.modules() if isinstance(layer, nn.Linear))
    weights_semantic = weights
    config = bark.semantic.config
    prompt = BarkSemanticGenerationConfig(**bark.generation_config.semantic_config).max_input_semantic_length + 1
    kv = sum(2 * config.num_layers * config.hidden_size * 4 * (prompt + t) for t in range(20))
    assert floors["semantic"].bytes_read == pytest.approx(21 * weights * 4 + kv)  # the prompt pass and 20 tokens
    slower = {f.stage: f for f in stage_floors(bark, vocoder, 20, bandwidth=1e9, peak=1e11)}
    assert all(slower[stage].seconds >= floors[stage].seconds for stage in floors)  # less bandwidth, no lower floor
    longer = {f.stage: f for f in stage_floors(bark, vocoder, 40, bandwidth=1e10, peak=1e11)}
    assert all(longer[stage].flops > floors[stage].flops for stage in ("semantic", "coarse", "decode"))
    # 20 semantic tokens -> 30 frames: the fast engine's unpadded fine window is 30 frames instead of the whole 64
    unpadded = {f.stage: f for f in stage_floors(bark, vocoder, 20, bandwidth=1e10, peak=1e11, pad_fine_window=False)}
    fine = bark.fine_acoustics.config
    weights = sum(
        layer.weight.numel() for layer in bark.fine_acoustics.layers.modules() if isinstance(layer, nn.Linear)
    )
    weights += bark.fine_acoustics.lm_heads[0].weight.numel()
    for stage, window in ((floors, 64), (unpadded, 30)):
        pass_flops = 2 * weights * window + 4 * fine.num_layers * fine.hidden_size * window * window
        assert stage["fine"].flops == pytest.approx(6 * pass_flops)
    assert unpadded["semantic"].flops == floors["semantic"].flops
    # speculative rounds of 4 drafts yielding 4.5 tokens: per token the float32 weights 1/4.5 times, the 8-bit ones
    # 4/4.5 times, the keys and values 5/4.5 times
    speculated = stage_floors(bark, vocoder, 20, bandwidth=1e10, peak=1e11, speculation={"semantic": (4, 4.5)})
    speculated = {f.stage: f for f in speculated}
    assert speculated["semantic"].bytes_read == pytest.approx(
        weights_semantic * 4 + 20 * weights_semantic * 8 / 4.5 + kv * 5 / 4.5
    )
    assert speculated["coarse"].bytes_read == floors["coarse"].bytes_read  # not speculated: plain steps
    # the coarse stage's weights: its linear layers but the LM head's rows of the 10000 semantic ids, read by the
    # prompt pass and each of its 60 tokens (20 semantic tokens -> 30 frames x 2 codebooks; no window moves)
    coarse = bark.coarse_acoustics
    weights = sum(layer.weight.numel() for layer in coarse.modules() if isinstance(layer, nn.Linear))
    weights -= 10_000 * coarse.config.hidden_size
    int8 = {f.stage: f for f in stage_floors(bark, vocoder, 20, bandwidth=1e10, peak=1e11, weight_bytes=1.0)}
    assert floors["coarse"].bytes_read - int8["coarse"].bytes_read == pytest.approx(61 * weights * 3)


def test_roofline_times_each_kind_of_product_at_its_own_rate(bark):
    """The fast engine's int8 linear layers and its attention (float32 or bfloat16) have their own measured rates:
    with memory out of the way (a huge bandwidth) the fine stage's floor is its linear FLOPs over the linear rate
    plus its attention FLOPs over the attention rate, and the vocoder keeps the float32 rate."""
    from bark_vocos.testing import random_vocoder
    from pipelines.benchmarks.roofline import stage_floors

    vocoder = random_vocoder(quick=True, seed=0)
    compute_bound = {"bandwidth": 1e30, "peak": 1e11}
    same = {f.stage: f for f in stage_floors(bark, vocoder, 20, **compute_bound)}
    rated = {
        f.stage: f for f in stage_floors(bark, vocoder, 20, **compute_bound, linear_peak=4e11, attention_peak=2e11)
    }
    fine = bark.fine_acoustics.config
    weights = sum(
        layer.weight.numel() for layer in bark.fine_acoustics.layers.modules() if isinstance(layer, nn.Linear)
    )
    weights += bark.fine_acoustics.lm_heads[0].weight.numel()
    linear_flops, attention_flops = 2 * weights * 64, 4 * fine.num_layers * fine.hidden_size * 64 * 64
    assert same["fine"].seconds == pytest.approx(6 * (linear_flops + attention_flops) / 1e11)
    assert rated["fine"].seconds == pytest.approx(6 * (linear_flops / 4e11 + attention_flops / 2e11))
    assert rated["fine"].flops == same["fine"].flops  # the work is the same; only its rate differs
    assert rated["decode"].seconds == same["decode"].seconds  # the vocoder runs float32 in every mode
    for stage in ("semantic", "coarse"):
        assert same[stage].seconds / 4 < rated[stage].seconds < same[stage].seconds / 2


def test_decode_step_bytes_count_the_weights_a_step_reads_and_its_cache(bark):
    from pipelines.benchmarks.roofline import decode_step_bytes

    coarse = bark.coarse_acoustics
    config = coarse.config
    blocks = sum(layer.weight.numel() for layer in coarse.layers.modules() if isinstance(layer, nn.Linear))
    cache = 2 * config.num_layers * config.hidden_size * 4 * 101  # 100 cached positions and the new one, float32
    head = coarse.lm_head.weight
    assert decode_step_bytes(coarse, 4.0, 100) == blocks * 4 + head.numel() * 4 + cache
    rows = (10_000, head.shape[0])  # the coarse stage's LM head computes only the rows of ids it can choose
    chosen = (head.shape[0] - 10_000) * head.shape[1]
    assert decode_step_bytes(coarse, 1.0, 100, rows) == blocks + chosen + cache


def test_bench_pipeline_names_the_measured_decode_engines(pins):
    pins({DECODE_ENGINES.variable: None})
    DECODE_ENGINES.reset()
    choices = {(768, 12, 1, 2, False): "onnxruntime", (768, 12, 4, 2, True): "torch", (768, 12, 2, 2, True): "torch"}
    for key, choice in choices.items():
        DECODE_ENGINES.record(StepEngineKey(*key), choice)
    expected = {"fp32, batch 1": "onnxruntime", "int8, batch 2-3": "torch", "int8, batch 8-15": "torch"}
    assert decode_engines() == expected


def test_bench_pipeline_names_the_measured_attention(pins):
    for cache in (ATTENTION_KERNELS, EXACT_ATTENTION_KERNELS):
        pins({cache.variable: None})
    exact = {(12, rows_bucket(1024), rows_bucket(1024), 64, False, False, 2): HEADS_KERNEL}
    fast = {(12, rows_bucket(300), rows_bucket(300), 64, False, True, 2): "bfloat16"}
    for cache, choices in ((EXACT_ATTENTION_KERNELS, exact), (ATTENTION_KERNELS, fast)):
        cache.reset()
        for key, choice in choices.items():
            cache.record(AttentionKey(*key), choice)
    assert attention_choices() == {
        "exact": {"queries 512+ over keys 512+, unmasked": HEADS_KERNEL},
        "fast": {"queries 256-511 over keys 256-511, causal": "bfloat16"},
    }
    pins({ATTENTION_KERNELS.variable: "float32"})
    assert attention_choices()["fast"] == {"forced": "float32"}


def test_the_fast_engine_times_its_attention_in_float32_and_bfloat16(pins, bark, monkeypatch):
    """Prompts and fine windows: the fast engine chooses the attention's precision per shape by timing both (the
    exact engine never does), and bfloat16 attention stays within its rounding of float32."""
    pins({ATTENTION_KERNELS.variable: None})
    ATTENTION_KERNELS.reset()
    input_ids, attention_mask = _text(1)
    semantic = BarkSemanticGenerationConfig(**bark.generation_config.semantic_config)
    options = {"semantic_generation_config": semantic, "attention_mask": attention_mask, "max_new_tokens": 4}
    OptimizedBarkStages(bark).semantic.generate(input_ids, **options)
    assert ATTENTION_KERNELS.choices == {}  # exact: float32 as given
    OptimizedBarkStages(bark, mode="fast").semantic.generate(input_ids, **options)
    assert len(ATTENTION_KERNELS.choices) == 1  # the prompt's shape (the steps attend with one query)
    assert set(ATTENTION_KERNELS.choices.values()) <= {"float32", "bfloat16"}
    generator = torch.Generator().manual_seed(0)
    query, key, value = (torch.randn(1, 4, 50, 16, generator=generator) for _ in range(3))
    expected = torch.nn.functional.scaled_dot_product_attention(query, key, value, is_causal=True)
    pins({ATTENTION_KERNELS.variable: "bfloat16"})
    got = attention(query, key, value, None, True, fast=True)
    assert got.dtype == torch.float32 and got.shape == expected.shape
    assert float((got - expected).norm() / expected.norm()) < 2e-2  # bfloat16: 8-bit mantissa
    assert torch.equal(attention(query, key, value, None, True, fast=False), expected)
    # a batch is timed on its first sequence, and the choice serves every batch size
    pins({ATTENTION_KERNELS.variable: None})
    ATTENTION_KERNELS.reset()
    timed_batches = []

    def record(candidates, repeats=5, cold=True):
        timed_batches.extend(run().shape[0] for run in candidates.values())
        return "float32"

    monkeypatch.setattr(timing, "fastest", record)
    batch = [torch.randn(3, 4, 50, 16, generator=generator) for _ in range(3)]
    mask = torch.ones(3, 1, 50, 50, dtype=torch.bool).tril()
    got = attention(*batch, mask, False, fast=True)
    torch.testing.assert_close(got, torch.nn.functional.scaled_dot_product_attention(*batch, attn_mask=mask))
    assert timed_batches == [1, 1] and len(ATTENTION_KERNELS.choices) == 1
    attention(*(tensor[:2] for tensor in batch), mask[:2], False, fast=True)
    assert timed_batches == [1, 1] and len(ATTENTION_KERNELS.choices) == 1  # batch 2: the same choice, not timed
    with pytest.raises(ValueError, match="not a kernel here"):  # checked when the pin is read, at start
        pins({ATTENTION_KERNELS.variable: "float16"})
        attention(query, key, value, None, True, fast=True)


def test_the_stages_time_their_parts_through_their_hooks(bark, configs, history_prompt):
    """`decoder.timer` sees each prompt pass and each decode step (or speculative round); `FineStage.timer` each
    codebook's pass. The codes are the same with the hooks as without."""
    parts: list[str] = []

    @contextlib.contextmanager
    def timer(part):
        parts.append(part)
        yield

    input_ids, attention_mask = _text(2)  # two sequences: plain steps, never speculative rounds
    config = configs["semantic_generation_config"]
    options = {"attention_mask": attention_mask, "max_new_tokens": 6, "min_new_tokens": 6}
    stages = OptimizedBarkStages(bark)
    expected = stages.semantic.generate(input_ids, semantic_generation_config=config, **options)
    stages.semantic.decoder.timer = timer
    assert torch.equal(stages.semantic.generate(input_ids, semantic_generation_config=config, **options), expected)
    assert parts == ["prompt"] + ["decoding"] * 5  # the prompt, then a step after each token but the last
    parts.clear()
    stages.fine_acoustics.timer = timer
    coarse = torch.randint(10_000, 10_000 + 2 * 1024, (1, 40), generator=torch.Generator().manual_seed(0))
    stages.fine_acoustics.generate(coarse, **configs)
    n_fine = configs["fine_generation_config"].n_fine_codebooks
    n_coarse = configs["coarse_generation_config"].n_coarse_codebooks
    assert parts == ["passes"] * (n_fine - n_coarse)  # 20 frames: one window, one pass per predicted codebook
