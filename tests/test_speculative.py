"""Speculative decoding in the exact engine (`bark_vocos.bark.speculative`): the tokens and the global RNG state equal
transformers' for one sequence, greedy and sampled, whatever the drafts; the drafts are accepted when they are right;
the multi-position ONNX Runtime pass equals one-position passes; the draft count is measured or forced."""

import pytest
import torch
from transformers import BarkModel
from transformers.models.bark.generation_configuration_bark import (
    BarkCoarseGenerationConfig,
    BarkSemanticGenerationConfig,
)

from bark_vocos.bark import OptimizedBarkStages
from bark_vocos.bark.decoder import DECODE_ENGINES, CausalDecoder
from bark_vocos.bark.onnx_step import onnx_step_available
from bark_vocos.bark.sampling import Draws, choose, multinomial_replays
from bark_vocos.bark.speculative import DRAFT_CHOICES, DRAFT_TOKENS_VARIABLE, EXPLORE_ROUNDS
from bark_vocos.testing import SMALL_WINDOWS, random_bark_model

pytestmark = pytest.mark.skipif(not onnx_step_available(), reason="onnxruntime or onnx is not installed")


@pytest.fixture(autouse=True)
def measured_engines(pins):
    pins({DECODE_ENGINES.variable: None})
    pins({DRAFT_TOKENS_VARIABLE: None})


@pytest.fixture(scope="module")
def bark() -> BarkModel:
    # initializer_range 0.2: peaked distributions, so greedy and sampled tokens vary along the sequence
    return random_bark_model(32, 2, 2, seed=0, initializer_range=0.2, generation=SMALL_WINDOWS)


def _seeded(seed: int, function, *args, **kwargs):
    """`function(*args, **kwargs)` from a seeded global RNG, and the RNG state it leaves."""
    torch.manual_seed(seed)
    result = function(*args, **kwargs)
    return result, torch.get_rng_state()


def _semantic(bark: BarkModel, history_prompt, **options):
    generator = torch.Generator().manual_seed(1)
    input_ids = torch.randint(0, 20_000, (1, 64), generator=generator)
    attention_mask = torch.zeros(1, 64, dtype=torch.long)
    attention_mask[:, :30] = 1
    config = BarkSemanticGenerationConfig(**bark.generation_config.semantic_config)
    return (input_ids,), {
        "semantic_generation_config": config,
        "attention_mask": attention_mask,
        "history_prompt": history_prompt,
        **options,
    }


def _coarse(bark: BarkModel, history_prompt, **options):
    # 30 semantic tokens -> 90 coarse tokens: 9 windows of 10, from the 7th on past the 60-token history
    semantic = torch.randint(0, 10_000, (1, 30), generator=torch.Generator().manual_seed(2))
    return (semantic,), {
        "semantic_generation_config": BarkSemanticGenerationConfig(**bark.generation_config.semantic_config),
        "coarse_generation_config": BarkCoarseGenerationConfig(**bark.generation_config.coarse_acoustics_config),
        "history_prompt": history_prompt,
        **options,
    }


def _rounds(decoder: CausalDecoder) -> dict[int, tuple[int, int]]:
    """Per draft count: (rounds, chosen tokens in the timed rounds)."""
    return {drafts: (rounds, tokens) for (_, drafts), (_, tokens, rounds) in decoder.round_times.items()}


CASES = {
    "semantic greedy": (_semantic, {"max_new_tokens": 40, "min_new_tokens": 40}),
    "semantic sampled": (_semantic, {"max_new_tokens": 40, "do_sample": True, "temperature": 0.7}),
    "semantic early stop": (_semantic, {"max_new_tokens": 40, "min_eos_p": 0.05}),
    "coarse greedy": (_coarse, {}),
    "coarse sampled": (_coarse, {"do_sample": True, "temperature": 0.7}),
}


@pytest.mark.parametrize("drafts", ["1", "3", "16", None])
@pytest.mark.parametrize("case", list(CASES))
def test_speculation_gives_transformers_tokens_and_rng_state(pins, bark, history_prompt, case, drafts):
    """Forced draft counts (16: longer than the coarse windows) and the measured choice (None)."""
    if drafts is not None:
        pins({DRAFT_TOKENS_VARIABLE: drafts})
    inputs, options = CASES[case]
    args, kwargs = inputs(bark, history_prompt, **options)
    stage_name = "semantic" if inputs is _semantic else "coarse_acoustics"
    reference_stage = getattr(bark, stage_name)
    expected, expected_rng = _seeded(11, reference_stage.generate, *(arg.clone() for arg in args), **kwargs)
    stages = OptimizedBarkStages(bark)
    stage = getattr(stages, stage_name)
    assert stage.decoder.can_speculate(1)
    got, rng = _seeded(11, stage.generate, *(arg.clone() for arg in args), **kwargs)
    assert got.shape == expected.shape
    assert torch.equal(got, expected)
    assert torch.equal(rng, expected_rng)  # draws made ahead for rejected drafts were given back
    rounds = _rounds(stage.decoder)
    assert rounds, "the speculative loop did not run"
    if drafts is not None:
        assert set(rounds) == {int(drafts)}
        count, tokens = rounds[int(drafts)]
        assert count > 1 and tokens > count - 1  # at least one timed round


def test_right_drafts_are_accepted(pins, bark, history_prompt):
    """With the float32 step as its own draft every draft is right: each round yields drafts + 1 tokens (but where
    the sequence or a coarse window ends)."""
    pins({DRAFT_TOKENS_VARIABLE: "3"})
    args, kwargs = _semantic(bark, history_prompt, max_new_tokens=41, min_new_tokens=41)
    stages = OptimizedBarkStages(bark)
    decoder = stages.semantic.decoder
    decoder.draft_step = decoder.onnx_step
    got = stages.semantic.generate(*args, **kwargs)
    expected = bark.semantic.generate(*args, **kwargs)
    assert torch.equal(got, expected)
    rounds, tokens = _rounds(decoder)[3]
    assert rounds == 10 and tokens == 9 * 4  # 1 token from the prompt, then 10 rounds of 4 (the first not timed)


def test_wrong_drafts_change_nothing(pins, bark, history_prompt):
    """Drafts from random logits are rejected and the tokens stay transformers' (sampled, with the RNG state)."""
    pins({DRAFT_TOKENS_VARIABLE: "4"})
    args, kwargs = _semantic(bark, history_prompt, max_new_tokens=30, do_sample=True, temperature=0.7)
    stages = OptimizedBarkStages(bark)
    decoder = stages.semantic.decoder
    generator = torch.Generator().manual_seed(0)
    vocab = bark.semantic.config.output_vocab_size
    decoder.draft_step = lambda ids, *rest: torch.randn(ids.shape[0], ids.shape[1], vocab, generator=generator)
    got, rng = _seeded(5, stages.semantic.generate, *args, **kwargs)
    expected, expected_rng = _seeded(5, bark.semantic.generate, *args, **kwargs)
    assert torch.equal(got, expected) and torch.equal(rng, expected_rng)
    rounds, tokens = _rounds(decoder)[4]
    assert tokens < 1.5 * (rounds - 1)  # nearly every draft rejected: about one token per round


def test_streamer_gets_each_token_once_in_order(pins, bark, history_prompt):
    pins({DRAFT_TOKENS_VARIABLE: "3"})
    args, kwargs = _semantic(bark, history_prompt, max_new_tokens=20, min_new_tokens=20)
    streamed = []

    class Streamer:
        def put(self, value):
            streamed.append(value)

        def end(self):
            streamed.append("end")

    got = OptimizedBarkStages(bark).semantic.generate(*args, streamer=Streamer(), **kwargs)
    assert streamed[-1] == "end" and streamed[0].shape[0] == 1  # the prompt placeholder first
    assert torch.equal(torch.cat(streamed[1:-1]), got[0])


def test_plain_steps_when_forced_or_batched(pins, bark, history_prompt):
    decoder = OptimizedBarkStages(bark).semantic.decoder
    assert decoder.can_speculate(1) and not decoder.can_speculate(2)
    pins({DRAFT_TOKENS_VARIABLE: "0"})
    assert not decoder.can_speculate(1)
    pins({DRAFT_TOKENS_VARIABLE: ""})
    pins({DECODE_ENGINES.variable: "torch"})
    assert not decoder.can_speculate(1)
    assert OptimizedBarkStages(bark, mode="fast").semantic.decoder.draft_step is None  # fast mode: nothing to verify


def test_the_draft_count_is_the_fastest_per_token_after_exploring(bark):
    decoder = CausalDecoder(bark.semantic, "exact")
    threads = torch.get_num_threads()
    explored = []
    for drafts in DRAFT_CHOICES:  # each count is explored in turn until it has its rounds
        assert decoder.draft_count() == drafts
        explored.append(drafts)
        decoder.round_times[(threads, drafts)] = [1.0, 10 * (drafts + 1), EXPLORE_ROUNDS]
    assert decoder.draft_count() == max(DRAFT_CHOICES)  # most tokens per second
    decoder.round_times[(threads, max(DRAFT_CHOICES))][0] = 100.0  # it got slow: the next best
    assert decoder.draft_count() == sorted(DRAFT_CHOICES)[-2]


@pytest.mark.parametrize("value", ["x", "-1", "17"])
def test_a_bad_draft_count_raises(pins, bark, value):
    """Checked when the pin is read (at start), not when the first round asks for it."""
    with pytest.raises(ValueError, match=DRAFT_TOKENS_VARIABLE):
        pins({DRAFT_TOKENS_VARIABLE: value})
    assert CausalDecoder(bark.semantic, "exact").draft_count() in DRAFT_CHOICES  # the settings in force unchanged


def test_multinomial_is_replayable_and_the_check_leaves_the_rng_alone():
    multinomial_replays.cache_clear()
    torch.manual_seed(0)
    before = torch.get_rng_state()
    assert multinomial_replays()
    assert torch.equal(torch.get_rng_state(), before)


def test_draws_given_back_leave_the_generator_after_the_used_ones():
    probs = torch.softmax(torch.randn(2, 50), dim=-1)
    torch.manual_seed(1)
    expected = [torch.multinomial(probs, 1).squeeze(1) for _ in range(3)]
    after_three = torch.get_rng_state()
    torch.manual_seed(1)
    draws = Draws((2, 50), sampling=True)
    got = [choose(torch.log(probs), _Sampling(), [], draws.get(index)) for index in range(5)]
    draws.use(3)
    draws.give_back()
    assert all(torch.equal(a, b) for a, b in zip(got[:3], expected, strict=True))
    assert torch.equal(torch.get_rng_state(), after_three)
    assert Draws((2, 50), sampling=False).get(0) is None


class _Sampling:
    do_sample = True
    renormalize_logits = False


@pytest.mark.parametrize("length", [2, 5])
def test_a_several_token_pass_equals_one_token_passes(bark, length):
    """The float32 ONNX Runtime pass over `length` new positions (each attends to the cache and the positions
    before it) against one-position passes, logits and cache."""
    model = bark.semantic
    several, single = CausalDecoder(model, "exact"), CausalDecoder(model, "exact")
    generator = torch.Generator().manual_seed(length)
    prompt = torch.randn(1, 20, 32, generator=generator)
    tokens = torch.randint(0, model.config.input_vocab_size, (1, length), generator=generator)
    with torch.no_grad():
        for decoder in (several, single):
            decoder.allocate(1, 32)
            decoder.forward(prompt, 0)
        got = several.onnx_forward(tokens, 20)
        expected = torch.stack([single.onnx_forward(tokens[:, i : i + 1], 20 + i)[:, 0] for i in range(length)], 1)
        embedded = model.input_embeds_layer(tokens)
        reference = torch.stack([single.forward(embedded[:, : i + 1], 20) for i in range(length)], 1)
    assert got.shape == (1, length, model.config.output_vocab_size)
    torch.testing.assert_close(got, expected, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(got, reference, rtol=1e-5, atol=1e-5)
    for a, b in zip(several.keys + several.values, single.keys + single.values, strict=True):
        torch.testing.assert_close(a[:, :, : 20 + length], b[:, :, : 20 + length], rtol=1e-5, atol=1e-5)
