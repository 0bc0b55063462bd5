"""Kernel choice by measurement: the choice is timed once per key, forced by name, and any choice gives the same
numbers."""

from typing import NamedTuple

import pytest
import torch
from torch import nn

from bark_vocos.choices import ChoiceKind
from bark_vocos.kernels import (
    COMPUTE_BOUND_ROWS,
    FORCE_VARIABLE,
    LARGE_ROWS,
    LINEAR_KERNELS,
    derived_weight,
    linear,
    linear_kernel,
    linear_kernel_names,
    rows_bucket,
)
from bark_vocos.timing import SEPARATED_AFTER, fastest


def _scripted(durations: dict[str, list[float]], monkeypatch) -> tuple[dict, dict[str, int]]:
    """Candidates whose runs take the scripted times on a fake clock (the first entry is the warm-up)."""
    from bark_vocos import timing

    clock = [0.0]
    monkeypatch.setattr(timing.time, "perf_counter", lambda: clock[0])
    calls = dict.fromkeys(durations, 0)

    def candidate(name):
        def run():
            clock[0] += durations[name][calls[name]]
            calls[name] += 1

        return run

    return {name: candidate(name) for name in durations}, calls


def test_fastest_stops_after_three_runs_when_the_order_is_plain(monkeypatch):
    candidates, calls = _scripted({"slow": [9.0] * 6, "quick": [9.0] + [1.0] * 5}, monkeypatch)
    assert fastest(candidates) == "quick"
    assert SEPARATED_AFTER == 3 and calls == {"slow": 4, "quick": 4}  # one warm-up and three timed runs each


def test_fastest_takes_each_candidates_fastest_run_so_spikes_do_not_decide(monkeypatch):
    """Interference only slows runs. The Xeon's case: the quicker candidate spiked in 3 of 5 runs (its median, 13.6,
    is above the other's 11); its fastest run still wins."""
    quick = [0.0, 6.6, 14.2, 13.7, 6.8, 13.6]
    candidates, calls = _scripted({"quick": quick, "steady": [0.0] + [11.0] * 5}, monkeypatch)
    assert fastest(candidates) == "quick"
    assert calls == {"quick": 6, "steady": 6}  # overlapping runs: one warm-up and five timed runs each
    # two early spikes no longer end the timing before the third run
    candidates, calls = _scripted(
        {"quick": [0.0, 14.2, 13.7, 6.6, 6.8, 6.7], "steady": [0.0] + [11.0] * 5}, monkeypatch
    )
    assert fastest(candidates) == "quick"
    candidates, calls = _scripted({"a": [0.0, 1.0, 3.0, 1.0], "b": [0.0] + [2.0] * 3}, monkeypatch)
    assert fastest(candidates, repeats=3) == "a"
    assert calls == {"a": 4, "b": 4}


def test_fastest_alternates_the_order_so_each_candidate_also_runs_after_itself(monkeypatch):
    """A candidate slowed by what another leaves behind (torch's OpenMP workers spinning on after a PyTorch step slowed
    the ONNX Runtime step run next) still gets runs that follow itself, as in a loop of its own, and wins on them."""
    from bark_vocos import timing

    clock = [0.0]
    monkeypatch.setattr(timing.time, "perf_counter", lambda: clock[0])
    order = []

    def candidate(name):
        def run():
            follows_other = bool(order) and order[-1] != name
            order.append(name)
            if name == "torch":
                clock[0] += 6.0
            else:  # the ONNX Runtime step: 3.5 after itself, 8 after the PyTorch step
                clock[0] += 8.0 if follows_other else 3.5

        return run

    candidates = {"torch": candidate("torch"), "onnxruntime": candidate("onnxruntime")}
    assert fastest(candidates, repeats=4, cold=False) == "onnxruntime"
    warm_up, rounds = order[:2], order[2:]
    assert warm_up == ["torch", "onnxruntime"]
    # never separated (the ONNX Runtime step's slowed runs overlap the other's), so all four rounds ran
    assert rounds == ["torch", "onnxruntime", "onnxruntime", "torch"] * 2


def test_fastest_picks_the_quicker_candidate_on_the_real_clock():
    calls = {"slow": 0, "quick": 0}

    def slow():
        calls["slow"] += 1
        sum(range(200_000))

    def quick():
        calls["quick"] += 1

    assert fastest({"slow": slow, "quick": quick}, repeats=3) == "quick"
    assert calls["slow"] == calls["quick"] == 4  # one warm-up and three timed runs each


class _Shape(NamedTuple):
    name: str
    size: int


def test_cache_times_once_per_key_and_honours_the_forcing_variable(pins):
    cache = ChoiceKind("test", _Shape, FORCE_VARIABLE)
    runs = []
    candidates = {"onednn": lambda: runs.append("onednn"), "aten": lambda: runs.append("aten")}
    first = cache.choose(_Shape("shape", 1), candidates)
    timed = len(runs)
    assert first in candidates
    assert (
        runs.count("onednn") == runs.count("aten") == timed // 2 in (4, 5, 6)
    )  # a warm-up and three to five timed runs
    assert cache.choose(_Shape("shape", 1), candidates) == first and len(runs) == timed  # cached: nothing timed again
    pins({FORCE_VARIABLE: "aten"})
    assert cache.choose(_Shape("shape", 2), candidates) == "aten" and len(runs) == timed
    pins({FORCE_VARIABLE: "onednn_aten_gelu"})  # a valid pin, but not a candidate here
    with pytest.raises(ValueError, match="not a kernel here"):
        cache.choose(_Shape("shape", 2), candidates)


def test_the_cache_times_the_sample_candidates_only_when_it_times(pins):
    """`timed` makes the candidates to time (e.g. on part of the input): called only when a timing runs, never for a
    cached or forced choice, and the candidates given are not run by the timing."""
    pins({FORCE_VARIABLE: None})
    cache = ChoiceKind("test", _Shape, FORCE_VARIABLE)
    runs, samples = [], []
    candidates = {"onednn": lambda: runs.append("onednn"), "aten": lambda: runs.append("aten")}

    def timed():
        samples.append(1)
        return {"onednn": lambda: runs.append("sample a"), "aten": lambda: runs.append("sample b")}

    assert cache.choose(_Shape("key", 0), candidates, timed=timed) in candidates
    assert samples == [1] and set(runs) == {"sample a", "sample b"}
    cache.choose(_Shape("key", 0), candidates, timed=timed)
    pins({FORCE_VARIABLE: "onednn"})
    assert cache.choose(_Shape("other key", 0), candidates, timed=timed) == "onednn"
    assert samples == [1]


@pytest.mark.parametrize("kernel", ["onednn", "aten", "onednn_aten_gelu"])
@pytest.mark.parametrize("gelu", [False, True])
@pytest.mark.parametrize("prepack", [False, True])
def test_linear_gives_the_same_numbers_with_either_kernel(pins, kernel, gelu, prepack):
    if kernel == "onednn_aten_gelu" and not gelu:
        pytest.skip("a candidate of GELU layers only")
    torch.manual_seed(0)
    layer = nn.Linear(48, 96)
    hidden = torch.randn(2, 75, 48)
    expected = layer(hidden)
    expected = torch.nn.functional.gelu(expected) if gelu else expected
    pins({FORCE_VARIABLE: kernel})
    with torch.no_grad():
        got = linear(hidden, layer, gelu=gelu, prepack=prepack)
        again = linear(hidden, layer, gelu=gelu, prepack=prepack)  # a kept prepacked weight, if any
    torch.testing.assert_close(got, expected.detach(), rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(again, got, rtol=0, atol=0)


def test_a_derived_weight_is_kept_until_the_weight_changes():
    layer = nn.Linear(4, 3)
    made = []

    def make(weight):
        made.append(1)
        return weight * 2

    first = derived_weight(layer, "double", make)
    assert derived_weight(layer, "double", make) is first and len(made) == 1
    with torch.no_grad():
        layer.weight.add_(1)  # written in place: its version moves
    torch.testing.assert_close(derived_weight(layer, "double", make), layer.weight.detach() * 2)
    layer.weight = nn.Parameter(torch.zeros(3, 4))  # replaced
    assert bool((derived_weight(layer, "double", make) == 0).all())
    layer.load_state_dict({"weight": torch.ones(3, 4), "bias": torch.zeros(3)})
    assert bool((derived_weight(layer, "double", make) == 2).all()) and len(made) == 4
    with torch.inference_mode():
        made_here = nn.Linear(4, 3)  # an inference tensor has no version counter: made on every call, never kept
    derived_weight(made_here, "double", make)
    derived_weight(made_here, "double", make)
    assert len(made) == 6
    assert not derived_weight(layer, "double", make).requires_grad


def test_linear_measures_each_shape_once(pins):
    pins({FORCE_VARIABLE: None})
    LINEAR_KERNELS.reset()
    layer = nn.Linear(16, 32)
    with torch.no_grad():
        for rows in (100, 120, 100):  # 100 and 120 rows share a size bucket
            linear(torch.randn(rows, 16), layer)
    assert len(LINEAR_KERNELS.choices) in (0, 1)  # none when this torch has no oneDNN linear
    assert all(choice in ("onednn", "aten") for choice in LINEAR_KERNELS.choices.values())


def test_only_memory_bound_shapes_are_timed_from_cold_caches(pins, monkeypatch):
    """A layer with fewer than COMPUTE_BOUND_ROWS rows reads its weights more than it computes: each timed run starts
    after `timing.evict_caches`; from COMPUTE_BOUND_ROWS rows on none does (fp32 `linear` and `Int8Linear` alike)."""
    from bark_vocos import timing
    from bark_vocos.bark.int8 import INT8_KERNELS, Int8Linear

    evictions = []
    monkeypatch.setattr(timing, "evict_caches", lambda: evictions.append(1))
    pins({FORCE_VARIABLE: None})
    pins({INT8_KERNELS.variable: None})
    layer = nn.Linear(16, 32)
    int8_layer = Int8Linear(layer)
    cases = (
        (lambda rows: linear(rows, layer), LINEAR_KERNELS, len(linear_kernel_names())),
        (int8_layer, INT8_KERNELS, len(int8_layer.kernels)),
    )
    for run, cache, candidates in cases:
        cache.reset()
        with torch.no_grad():
            run(torch.randn(COMPUTE_BOUND_ROWS, 16))
            assert evictions == []
            run(torch.randn(COMPUTE_BOUND_ROWS - 1, 16))
        assert len(cache.choices) == (2 if candidates > 1 or cache is INT8_KERNELS else 0)
        if cache.choices:  # each candidate's timed runs (two to five) started from cold caches
            assert SEPARATED_AFTER * candidates <= len(evictions) <= 5 * candidates
        evictions.clear()


def test_a_large_product_is_timed_on_its_first_large_rows_rows_and_computed_whole(pins, monkeypatch):
    """Counts from LARGE_ROWS on share one choice, so it is timed on the first LARGE_ROWS rows (a batch's prompts run
    thousands); the product itself is computed on every row (fp32 `linear` and `Int8Linear` alike)."""
    from bark_vocos import timing
    from bark_vocos.bark.int8 import INT8_KERNELS, Int8Linear

    timed_rows = []

    def record(candidates, repeats=5, cold=True):
        for run in candidates.values():
            timed_rows.append(run().shape[0])
        return next(iter(candidates))

    monkeypatch.setattr(timing, "fastest", record)
    pins({FORCE_VARIABLE: None})
    pins({INT8_KERNELS.variable: None})
    LINEAR_KERNELS.reset()
    INT8_KERNELS.reset()
    layer = nn.Linear(16, 32)
    inputs = torch.randn(3, LARGE_ROWS, 16)  # 3 * LARGE_ROWS rows
    with torch.no_grad():
        expected = layer(inputs)
        got = linear(inputs, layer, prepack=True)
        int8_got = Int8Linear(layer)(inputs)
        small = linear(inputs[0, :100], layer)
    assert got.shape == int8_got.shape == expected.shape
    torch.testing.assert_close(got, expected, rtol=1e-5, atol=1e-5)
    assert float((int8_got - expected).norm() / expected.norm()) < 3e-2  # 7-bit activations, 8-bit weights
    torch.testing.assert_close(small, expected[0, :100], rtol=1e-5, atol=1e-5)
    fp32_timed = len(linear_kernel_names()) if len(linear_kernel_names()) > 1 else 0  # no oneDNN: ATen, untimed
    assert timed_rows.count(100) == fp32_timed  # a small product is timed on all its rows
    assert timed_rows.count(LARGE_ROWS) == fp32_timed + len(Int8Linear(layer).kernels)
    assert len(timed_rows) == 2 * fp32_timed + len(Int8Linear(layer).kernels)


def test_rows_of_one_power_of_two_share_a_choice_and_large_counts_share_one():
    assert rows_bucket(100) == rows_bucket(120) != rows_bucket(50)
    assert rows_bucket(LARGE_ROWS) == rows_bucket(LARGE_ROWS * 14) == rows_bucket(10**6) != rows_bucket(LARGE_ROWS - 1)


def test_a_caller_can_choose_the_kernel_for_every_layer_of_a_step(pins):
    pins({FORCE_VARIABLE: None})
    LINEAR_KERNELS.reset()
    torch.manual_seed(0)
    layer = nn.Linear(16, 32)
    hidden = torch.randn(1, 16)
    with torch.no_grad():
        expected = layer(hidden)
        for name in linear_kernel_names():
            with linear_kernel(name):
                torch.testing.assert_close(linear(hidden, layer), expected, rtol=1e-5, atol=1e-5)
    assert LINEAR_KERNELS.choices == {}  # the caller's choice: nothing timed per layer
    with pytest.raises(ValueError, match="unknown linear kernel 'mkl'"):
        with linear_kernel("mkl"):
            pass


@pytest.mark.parametrize("threads", [1, 2])
def test_cache_eviction_reads_past_the_last_level_cache_without_torch_threads(threads):
    from bark_vocos import timing

    assert timing._evict_buffer().nbytes >= max(timing._EVICT_BYTES, 2 * timing._last_level_cache_bytes())
    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        with torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CPU]) as profile:
            timing.evict_caches()
    finally:
        torch.set_num_threads(before)
    # no torch operator (whose OpenMP workers would spin on after it, taking cores from the next candidate)
    assert not [event.name for event in profile.events() if event.name.startswith("aten::")]
