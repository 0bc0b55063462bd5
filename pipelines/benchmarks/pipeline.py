"""`bark-vocos bench pipeline`: transformers' Bark + EnCodec against our stages + Vocos, per stage and end to end.

Both run in the same process on the same bark-small-shaped model with RANDOM weights (nothing is downloaded;
the audio is noise, never speech). The semantic length is forced (`min_new_tokens = max_new_tokens`) so both
generate the same number of tokens. Ratios (reference time / our time) are what counts: absolute times depend
on the machine and its load.
"""

from __future__ import annotations

import argparse
import functools
import json
import statistics
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import asdict
from typing import Any

import torch
from transformers import BarkModel

from bark_vocos import VocosEncodecModel
from bark_vocos.bark import (
    BarkGenerationConfigs,
    BarkTokens,
    OptimizedBarkStages,
    generate_bark_tokens,
)
from bark_vocos.bark.attention import ATTENTION_KERNELS, EXACT_ATTENTION_KERNELS
from bark_vocos.bark.decoder import DECODE_ENGINES
from bark_vocos.choices import CHOICES
from bark_vocos.kernels import LARGE_ROWS
from bark_vocos.settings import settings as engine_settings
from bark_vocos.testing import BARK_SMALL, QUICK, SMALL_WINDOWS, random_bark_model, random_vocoder
from bark_vocos.timing import untimed

from ..devices import resolve_device, resolve_dtype
from ..files import atomic_output, check_writable
from ..machine import (
    bench_metadata,
    best_seconds,
    describe_machine,
    measure_int8_matmul_ops,
    measure_matmul_flops,
    measure_read_bandwidth,
    set_threads,
    synchronizer,
)
from ..roofline import decode_step_bytes, stage_floors

__all__ = [
    "BARK_SMALL",
    "QUICK",
    "SMALL_WINDOWS",
    "random_bark_model",
    "random_vocoder",
    "run",
]  # the random models are `bark_vocos.testing`'s, kept here for the commands that import them from here

STAGES = ("semantic", "coarse", "fine", "decode")
RANDOM_WEIGHTS_NOTE = "random weights: timings and token agreement only, the audio is noise, not speech"


class _StageTimer:
    """Times (and keeps the outputs of) the stage methods an object calls, by wrapping them on the instance.

    Args:
        device: Where the timed work runs: on a CUDA device each timed call starts and ends with a synchronization,
            so that it is charged with its own kernels, not the ones still queued before it or after it returns.
    """

    def __init__(self, device: torch.device) -> None:
        self.sync: Callable[[], None] = synchronizer(device)
        self.seconds: dict[str, float] = {}
        self.calls: dict[str, int] = {}
        self.outputs: dict[str, Any] = {}
        self.wrapped: list[tuple[Any, str]] = []

    def wrap(self, owner: Any, attribute: str, stage: str) -> None:
        """Time every call of `owner.attribute` under the name `stage`."""
        function: Callable = getattr(owner, attribute)

        def timed(*args, **kwargs):
            self.sync()
            start = time.perf_counter()
            output = function(*args, **kwargs)
            self.sync()
            self.seconds[stage] = self.seconds.get(stage, 0.0) + time.perf_counter() - start
            self.calls[stage] = self.calls.get(stage, 0) + 1
            self.outputs[stage] = output
            return output

        object.__setattr__(owner, attribute, timed)
        self.wrapped.append((owner, attribute))

    def part(self, stage: str) -> Callable[[str], AbstractContextManager[None]]:
        """A timer hook of the stages (`CausalDecoder.timer`, `FineStage.timer`): each part it runs (`"prompt"`,
        `"decoding"`, `"passes"`) is timed as `"{stage} {part}"`."""

        @contextmanager
        def timed(part: str) -> Iterator[None]:
            name = f"{stage} {part}"
            self.sync()
            start = time.perf_counter()
            try:
                yield
            finally:
                self.sync()
                self.seconds[name] = self.seconds.get(name, 0.0) + time.perf_counter() - start
                self.calls[name] = self.calls.get(name, 0) + 1

        return timed

    def unwrap(self) -> None:
        """Remove the wrappers (the class methods show through again)."""
        for owner, attribute in self.wrapped:
            owner.__dict__.pop(attribute)
        self.wrapped = []

    def report(self) -> dict[str, float]:
        """Seconds per stage and their total."""
        times = {stage: round(self.seconds.get(stage, 0.0), 3) for stage in STAGES}
        times["total"] = round(sum(self.seconds.get(stage, 0.0) for stage in STAGES), 3)
        return times

    def breakdown(self) -> dict[str, dict[str, float]]:
        """Where each Bark stage's time went, from the parts `_ours` times: prompt passes and decoding (the
        autoregressive stages: one-token steps or speculative rounds), the fine stage's passes, and the rest
        (sampling, logits processing, bookkeeping). Seconds, and the number of calls of each part."""
        parts = {"semantic": ("prompt", "decoding"), "coarse": ("prompt", "decoding"), "fine": ("passes",)}
        result = {}
        for stage, names in parts.items():
            entry: dict[str, float] = {"seconds": round(self.seconds.get(stage, 0.0), 3)}
            for name in names:
                entry[f"{name}_s"] = round(self.seconds.get(f"{stage} {name}", 0.0), 3)
                entry[f"{name}_calls"] = self.calls.get(f"{stage} {name}", 0)
            entry["other_s"] = round(entry["seconds"] - sum(entry[f"{name}_s"] for name in names), 3)
            result[stage] = entry
        return result


def _vocos_audio(vocoder: VocosEncodecModel, codes: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
    """Fine codes `(B, 8, T)` with frame counts `(B,)` -> Vocos audio `(B, T * 320)`, padding zeroed."""
    with torch.no_grad():
        output = vocoder(codes=codes.transpose(0, 1).to(vocoder.device), lengths=lengths)
    return output.audio * output.attention_mask if output.attention_mask is not None else output.audio


def _relative_difference(a: torch.Tensor, b: torch.Tensor) -> float:
    """||a - b|| / ||a|| over the common length."""
    length = min(a.shape[-1], b.shape[-1])
    a, b = a[..., :length].float(), b[..., :length].float()
    return float((a - b).norm() / a.norm().clamp_min(1e-12))


def _codes(output: Any) -> torch.Tensor:
    return output[0] if isinstance(output, tuple) else output


def _agreement(a: torch.Tensor, b: torch.Tensor) -> float:
    """Fraction of identical tokens (0 when the shapes differ)."""
    return float((a == b).float().mean()) if a.shape == b.shape else 0.0


def _reference(model: BarkModel, input_ids: torch.Tensor, kwargs: dict) -> tuple[dict, _StageTimer]:
    """transformers' `BarkModel.generate` (EnCodec decode included), timed per stage."""
    timer = _StageTimer(model.device)
    timer.wrap(model.semantic, "generate", "semantic")
    timer.wrap(model.coarse_acoustics, "generate", "coarse")
    timer.wrap(model.fine_acoustics, "generate", "fine")
    timer.wrap(model, "codec_decode", "decode")
    try:
        with torch.no_grad():
            model.generate(input_ids, return_output_lengths=True, **kwargs)
    finally:
        timer.unwrap()
    return timer.report(), timer


def _ours(
    stages: OptimizedBarkStages, vocoder: VocosEncodecModel, input_ids: torch.Tensor, kwargs: dict
) -> tuple[dict, _StageTimer]:
    """Our stages through the one orchestration (`generate_bark_tokens`), then Vocos on the fine codes, per stage."""
    timer = _StageTimer(stages.bark_model.device)
    timer.wrap(stages.semantic, "generate", "semantic")
    timer.wrap(stages.coarse_acoustics, "generate", "coarse")
    timer.wrap(stages.fine_acoustics, "generate", "fine")
    # the stages' hooks: the decoders' prompt passes and decoding, the fine stage's passes
    hooked = {
        "semantic": stages.semantic.decoder,
        "coarse": stages.coarse_acoustics.decoder,
        "fine": stages.fine_acoustics,
    }
    for stage, part in hooked.items():
        part.timer = timer.part(stage)
    try:
        items = generate_bark_tokens(stages, BarkGenerationConfigs.from_bark(stages.bark_model), input_ids, **kwargs)
    finally:
        timer.unwrap()
        for part in hooked.values():
            part.timer = untimed
    codes, lengths = _padded(items)
    timer.sync()
    start = time.perf_counter()
    audio = _vocos_audio(vocoder, codes, lengths)
    timer.sync()
    timer.seconds["decode"] = time.perf_counter() - start
    timer.outputs["decode"] = audio
    timer.outputs["lengths"] = lengths
    return timer.report(), timer


def _padded(items: list[BarkTokens]) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-item fine codes as one zero-padded batch `(B, 8, T)` and the frame counts `(B,)`."""
    frames = torch.tensor([item.frames for item in items])
    codes = torch.zeros(len(items), items[0].fine.shape[0], int(frames.max()), dtype=torch.long)
    for row, item in enumerate(items):
        codes[row, :, : item.frames] = item.fine
    return codes, frames


def _median_times(rounds: list[dict[str, float]]) -> dict[str, float]:
    """Per stage, the median of the rounds' seconds."""
    return {key: round(statistics.median(r[key] for r in rounds), 3) for key in rounds[0]}


def _median_ratios(references: list[dict[str, float]], ours: list[dict[str, float]]) -> dict[str, float]:
    """Per stage, the median over rounds of that round's reference time / our time."""
    per_round = [_ratios(reference, mine) for reference, mine in zip(references, ours, strict=True)]
    return {key: round(statistics.median(r[key] for r in per_round), 2) for key in per_round[0]}


def _ratios(reference: dict, ours: dict) -> dict[str, float]:
    return {key: round(reference[key] / ours[key], 2) for key in reference if ours.get(key, 0) > 0}


def _stage_agreement(model: BarkModel, stages: OptimizedBarkStages, exact: _StageTimer) -> dict[str, float]:
    """Per-stage token agreement of `stages` with fp32 reference outputs, each stage fed the reference's input."""
    configs = BarkGenerationConfigs.from_bark(model)
    semantic = exact.outputs["semantic"]
    coarse = _codes(exact.outputs["coarse"])
    coarse_again = stages.coarse_acoustics.generate(
        semantic.clone(),
        semantic_generation_config=configs.semantic,
        coarse_generation_config=configs.coarse,
        codebook_size=configs.codebook_size,
    )
    fine_again = stages.fine_acoustics.generate(
        coarse.clone(),
        semantic_generation_config=configs.semantic,
        coarse_generation_config=configs.coarse,
        fine_generation_config=configs.fine,
        codebook_size=configs.codebook_size,
    )
    return {
        "coarse_given_reference_semantic": _agreement(coarse_again, coarse),
        "fine_given_reference_coarse": _agreement(fine_again, exact.outputs["fine"]),
    }


def _long_form(
    model: BarkModel, vocoder: VocosEncodecModel, stages: OptimizedBarkStages, sentences: int, tokens: int, seed: int
) -> dict[str, float | int | str]:
    """Seconds for `sentences` texts through transformers' `BarkModel.generate` + EnCodec one after another (how a
    user of the model card would speak a long text) against our `stages` on all of them as one batch, through
    the one orchestration, + Vocos: the first batched run of the process (with the one-time kernel choices for its
    shapes) and the next one.

    `stages` is the engine the rounds ran when they timed its mode, as a pipeline keeps its engine: the first batch
    then pays the choices for the batch's shapes, not the engine's own first-call costs (building its ONNX Runtime
    sessions), which `run` reports apart."""
    configs = BarkGenerationConfigs.from_bark(model)
    text_length = configs.semantic.max_input_semantic_length
    generator = torch.Generator().manual_seed(seed + 1)
    input_ids = torch.randint(0, 20_000, (sentences, text_length), generator=generator)
    attention_mask = torch.zeros(sentences, text_length, dtype=torch.long)
    for row in range(sentences):
        attention_mask[row, : 12 + 5 * row] = 1  # sentences of different lengths, padded like the processor does
    input_ids, attention_mask = input_ids.to(model.device), attention_mask.to(model.device)
    kwargs = {"semantic_max_new_tokens": tokens, "semantic_min_new_tokens": tokens}
    start = time.perf_counter()
    with torch.no_grad():
        for row in range(sentences):
            model.generate(input_ids[row : row + 1], attention_mask=attention_mask[row : row + 1], **kwargs)
    reference = time.perf_counter() - start
    # The first batched run also times the kernel and decode-step choices for the shapes of this batch (once per
    # process); the second is what every later batch of this size costs. Both are reported.
    batched = []
    for _ in range(2):
        start = time.perf_counter()
        _ours(stages, vocoder, input_ids, {"attention_mask": attention_mask, **kwargs})
        batched.append(time.perf_counter() - start)
    return {
        "mode": stages.mode,
        "sentences": sentences,
        "semantic_tokens_each": tokens,
        "reference_one_after_another_s": round(reference, 3),
        "ours_batched_first_run_s": round(batched[0], 3),
        "ours_batched_s": round(batched[1], 3),
        "speedup": round(reference / batched[1], 2),
        "speedup_first_run": round(reference / batched[0], 2),
    }


def _check(args: argparse.Namespace) -> tuple[torch.device, torch.dtype]:
    """The device and dtype of the run, after checking the arguments and the engine's pins (before anything is built).

    Raises:
        ValueError: a count below its minimum, a dtype the CPU does not run, an unwritable `--out`, a bad pin.
    """
    for name in ("semantic_tokens", "long_form_tokens", "repeats"):
        if getattr(args, name) < 1:
            raise ValueError(f"--{name.replace('_', '-')} must be >= 1, got {getattr(args, name)}")
    if args.long_form_sentences < 0:
        raise ValueError(f"--long-form-sentences must be >= 0, got {args.long_form_sentences}")
    engine_settings()  # the BARK_VOCOS_* pins: a bad value fails before the models are built
    set_threads(args.threads)
    device, dtype = resolve_device(args.device), resolve_dtype(args.dtype)
    if device.type == "cpu" and dtype != torch.float32:
        raise ValueError(f"--dtype {args.dtype} needs --device cuda: on the CPU the engines run float32")
    if args.out is not None:
        check_writable(args.out)  # before minutes of benchmarking, not after
    return device, dtype


def _inputs(model: BarkModel, args: argparse.Namespace, device: torch.device) -> tuple[torch.Tensor, dict[str, Any]]:
    """One sentence's text ids `(1, L)` (40 real tokens, the rest masked) and the generation options of the run."""
    text_length = BarkGenerationConfigs.from_bark(model).semantic.max_input_semantic_length
    generator = torch.Generator().manual_seed(args.seed)
    input_ids = torch.randint(0, 20_000, (1, text_length), generator=generator)
    attention_mask = torch.zeros(1, text_length, dtype=torch.long)
    attention_mask[:, :40] = 1
    kwargs = {
        "attention_mask": attention_mask.to(device),
        "semantic_max_new_tokens": args.semantic_tokens,
        "semantic_min_new_tokens": args.semantic_tokens,  # early stop off: same length for both
    }
    return input_ids.to(device), kwargs


def _rates(engines: dict[str, OptimizedBarkStages], device: torch.device, dtype: torch.dtype) -> dict[str, float]:
    """The machine's measured rates: read bandwidth and float32 (or `dtype`) products, and for the fast engine on the
    CPU its int8 and bfloat16 products (its compute floor counts each at its own rate)."""
    rates = {"read": measure_read_bandwidth(device=device), "matmul": measure_matmul_flops(device=device, dtype=dtype)}
    if "fast" in engines and device.type == "cpu":
        rates |= {"int8": measure_int8_matmul_ops(), "bfloat16": measure_matmul_flops(dtype=torch.bfloat16)}
    return rates


def _floors(
    model: BarkModel,
    vocoder: VocosEncodecModel,
    stages: OptimizedBarkStages,
    args: argparse.Namespace,
    rates: dict[str, float],
    speculation: dict[str, dict[str, Any]],
) -> tuple[list, str]:
    """The roofline floors of `stages`' mode, and the text naming the rates its Bark stages are held to."""
    peak = rates["matmul"]
    linear_peak, attention_peak = peak, peak
    if stages.mode == "fast" and "int8" in rates:
        linear_peak, attention_peak = rates["int8"], max(peak, rates["bfloat16"])
    speculated = {}
    if stages.mode == "exact":  # the floor of what ran: speculative rounds read the float32 weights once for several
        for stage, report in speculation.items():
            if report["chosen"]:
                speculated[stage] = (report["chosen"], report["tokens_per_round"][str(report["chosen"])])
    floors = stage_floors(
        model, vocoder, args.semantic_tokens, rates["read"], peak, _weight_bytes(stages), stages.mode == "exact",
        speculated, cache_bytes=_cache_bytes(model), linear_peak=linear_peak, attention_peak=attention_peak,
    )  # fmt: skip
    bark_rate = f"{peak / 1e9:.0f} GFLOP/s"
    if (linear_peak, attention_peak) != (peak, peak):
        bark_rate = f"linear layers {linear_peak / 1e9:.0f} GOP/s int8, attention {attention_peak / 1e9:.0f} GFLOP/s"
    return floors, bark_rate


def _entry(
    model: BarkModel,
    vocoder: VocosEncodecModel,
    stages: OptimizedBarkStages,
    rounds: list[dict[str, dict[str, float]]],
    timers: dict[str, _StageTimer],
    args: argparse.Namespace,
    rates: dict[str, float],
    speculation: dict[str, dict[str, Any]],
) -> tuple[dict[str, Any], list, str]:
    """The JSON entry of one mode: times, ratios, agreement, roofline, breakdown; and its floors and rate text."""
    mode = stages.mode
    timer, reference_timer = timers[mode], timers["reference"]
    entry: dict[str, Any] = {
        "seconds": _median_times([r[mode] for r in rounds]),
        "speedup": _median_ratios([r["reference"] for r in rounds], [r[mode] for r in rounds]),
        "speedup_per_round": [_ratios(r["reference"], r[mode]) for r in rounds],
    }
    reference_codes = reference_timer.outputs["fine"]
    entry["identical_tokens_vs_reference"] = {
        "semantic": _agreement(timer.outputs["semantic"], reference_timer.outputs["semantic"]),
        "coarse": _agreement(_codes(timer.outputs["coarse"]), _codes(reference_timer.outputs["coarse"])),
        "fine": _agreement(timer.outputs["fine"], reference_codes),
    }
    if mode == "fast":
        entry["stage_agreement_vs_fp32"] = _stage_agreement(model, stages, reference_timer)
        # Vocos runs in float32 in every mode, so the same codes give the same audio; what differs is the codes.
        lengths = timer.outputs["lengths"].new_tensor([reference_codes.shape[-1]] * reference_codes.shape[0])
        fp32_audio = _vocos_audio(vocoder, reference_codes, lengths)
        difference = _relative_difference(fp32_audio, timer.outputs["decode"])
        entry["vocos_audio_relative_difference_vs_fp32_codes"] = difference
    floors, bark_rate = _floors(model, vocoder, stages, args, rates, speculation)
    entry["roofline"] = {floor.stage: asdict(floor) for floor in floors}
    entry["time_breakdown_last_round"] = timer.breakdown()
    entry["decode_step_alone"] = _step_rates(stages, rates["read"])
    return entry, floors, bark_rate


def _print_entry(mode: str, entry: dict[str, Any], floors: list, bark_rate: str, rates: dict[str, float]) -> None:
    """A mode's lines of the report."""
    times, bandwidth = entry["seconds"], rates["read"]
    vocoder_rate = f"{rates['matmul'] / 1e9:.0f} GFLOP/s"  # the vocoder runs in float32 in every mode
    print(f"{mode}: seconds {times}")
    print(f"{mode}: speedup vs reference (median of paired ratios) {entry['speedup']}")
    print(f"{mode}: identical tokens vs reference {entry['identical_tokens_vs_reference']}")
    for floor in floors:
        print(
            f"{mode}: roofline {floor.stage}: reads {floor.bytes_read / 1e9:.3f} GB, "
            f"{floor.flops / 1e9:.2f} GFLOP; "
            f"{bandwidth / 1e9:.1f} GB/s, {vocoder_rate if floor.stage == 'decode' else bark_rate} "
            f"-> floor {floor.seconds:.3f} s; "
            f"ours {times[floor.stage]:.3f} s ({times[floor.stage] / floor.seconds:.1f}x the floor)"
        )
    for stage, part in entry["time_breakdown_last_round"].items():
        pieces = [
            f"{name} {part[f'{name}_s']:.3f} s ({part[f'{name}_calls']} calls)"
            for name in ("prompt", "decoding", "passes")
            if f"{name}_s" in part
        ]
        print(f"{mode}: {stage} {part['seconds']:.3f} s = {' + '.join(pieces)} + other {part['other_s']:.3f} s")
    for stage, rate in entry["decode_step_alone"].items():
        print(
            f"{mode}: one {stage} step alone at {STEP_CONTEXT} cached positions: {rate['ms']:.2f} ms for "
            f"{rate['megabytes']:.0f} MB, {rate['gb_per_s']:.1f} GB/s ({rate['of_bandwidth']:.2f} of the machine's)"
        )
    if "stage_agreement_vs_fp32" in entry:
        print(f"{mode}: per-stage agreement with fp32 inputs {entry['stage_agreement_vs_fp32']}")
        difference = entry["vocos_audio_relative_difference_vs_fp32_codes"]
        print(f"{mode}: Vocos audio from these codes vs from the fp32 codes: relative difference {difference:.3f}")


def _rounds(
    model: BarkModel,
    vocoder: VocosEncodecModel,
    engines: dict[str, OptimizedBarkStages],
    input_ids: torch.Tensor,
    kwargs: dict[str, Any],
    repeats: int,
) -> tuple[list[dict[str, dict[str, float]]], dict[str, _StageTimer]]:
    """Interleaved rounds (reference, then each mode, again and again): a change in the machine's load hits every
    side of a round alike, and the median of each round's ratio neither fakes nor hides a gain."""
    rounds: list[dict[str, dict[str, float]]] = []
    timers: dict[str, _StageTimer] = {}
    for _ in range(repeats):
        reference_times, timers["reference"] = _reference(model, input_ids, dict(kwargs))
        this_round = {"reference": reference_times}
        for mode, stages in engines.items():
            this_round[mode], timers[mode] = _ours(stages, vocoder, input_ids, dict(kwargs))
        rounds.append(this_round)
    return rounds, timers


def run(args: argparse.Namespace) -> int:
    """Build the random model, time reference and ours, print ratios, optionally write JSON."""
    device, dtype = _check(args)
    size = QUICK if args.quick else BARK_SMALL
    print(f"bench pipeline: {RANDOM_WEIGHTS_NOTE}")
    shape = "a smoke run's tiny shape" if args.quick else "bark-small shape"
    print(f"model: 3 x {size} ({shape}), {str(dtype).removeprefix('torch.')} on {device}")
    print(describe_machine())
    model = random_bark_model(**size, seed=args.seed, generation=SMALL_WINDOWS if args.quick else None)
    model = model.to(device=device, dtype=dtype)  # as the pipeline loads it (`TextToWavPipeline.from_pretrained`)
    input_ids, kwargs = _inputs(model, args, device)
    _warm_up(model)
    results: dict[str, Any] = {
        "machine": bench_metadata(),
        "note": RANDOM_WEIGHTS_NOTE,
        "model": size,
        "semantic_tokens": args.semantic_tokens,
        "torch_threads": torch.get_num_threads(),
        "device": str(device),
        "dtype": str(dtype).removeprefix("torch."),
    }
    vocoder = random_vocoder(args.quick, args.seed).to(device=device, dtype=dtype)
    engines = {mode: OptimizedBarkStages(model, mode=mode) for mode in args.modes}
    # Warm-up: each engine's first call builds its ONNX Runtime sessions (where it has them) and times the kernel
    # choices for one sentence's shapes, here and not in the first round; what that costs is reported.
    results["first_call_s"] = {}
    for mode, stages in engines.items():
        start = time.perf_counter()
        _ours(stages, vocoder, input_ids, {**kwargs, "semantic_max_new_tokens": 8, "semantic_min_new_tokens": 8})
        results["first_call_s"][mode] = round(time.perf_counter() - start, 3)
    print(f"first call of each engine, 8 semantic tokens (sessions built, kernels chosen): {results['first_call_s']}")
    rounds, timers = _rounds(model, vocoder, engines, input_ids, kwargs, args.repeats)
    rates = _rates(engines, device, dtype)
    names = {"read": "read_gb_per_s", "matmul": "matmul_gflop_per_s", "int8": "int8_gop_per_s"}
    results["rates"] = {names.get(key, "bfloat16_gflop_per_s"): round(value / 1e9, 1) for key, value in rates.items()}
    speculation = _speculation(engines["exact"]) if "exact" in engines else {}
    results["repeats"] = args.repeats
    results["reference_s"] = _median_times([r["reference"] for r in rounds])
    print(f"reference (transformers BarkModel.generate + EnCodec), median of {args.repeats}: {results['reference_s']}")
    for mode, stages in engines.items():
        results[mode], floors, bark_rate = _entry(model, vocoder, stages, rounds, timers, args, rates, speculation)
        _print_entry(mode, results[mode], floors, bark_rate, rates)
    results["decode_engines"] = _decode_engines()
    print(f"decode step implementation (measured per batch size, or forced): {results['decode_engines']}")
    results["attention"] = _attention_choices()
    results["choices"] = CHOICES.report()  # every measured choice, by kind and typed key
    print(f"attention over several queries (measured per shape, or forced): {results['attention']}")
    if speculation:
        results["speculation"] = speculation
        print(f"exact: speculative decoding, the draft count chosen and the tokens per round of each: {speculation}")
    if args.long_form_sentences:
        mode = args.long_form_mode
        stages = engines[mode] if mode in engines else OptimizedBarkStages(model, mode=mode)
        long_form = _long_form(model, vocoder, stages, args.long_form_sentences, args.long_form_tokens, args.seed)
        results["long_form"] = long_form
        print(f"long form, reference one sentence after another vs ours batched: {long_form}")
    if args.out is not None:
        with atomic_output(args.out) as tmp:
            tmp.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
        print(f"wrote {args.out}")
    return 0


STEP_CONTEXT = 512  # cached positions of the decode steps `_step_rates` times (a semantic step's, mid-sentence)


def _step_rates(stages: OptimizedBarkStages, bandwidth: float, repeats: int = 20) -> dict[str, dict[str, float]]:
    """Per autoregressive stage, one decode step of one sequence alone, at `STEP_CONTEXT` cached positions, timed
    back to back: its time (the fastest of `repeats` runs after one untimed: interference only slows a run, so a
    median would read slower than the decoding loop's steps), the bytes
    it must read (`decode_step_bytes`), the rate that makes, and that rate over the machine's measured read
    `bandwidth`. A step reads more than the last-level cache holds, so back to back it reads from memory as inside
    the decoding loop. Where this rate is well below the machine's, the step's own kernels, not the Python around
    them, keep the stage from its floor. It runs the implementation `step` measured and chose (float32 in the exact
    engine: its plain step, not speculative rounds). The next generation starts afresh (it allocates the cache)."""
    rates = {}
    for stage, decoder in (("semantic", stages.semantic.decoder), ("coarse", stages.coarse_acoustics.decoder)):
        decoder.allocate(1, STEP_CONTEXT + 1, fill=0.0)
        token = torch.zeros(1, 1, dtype=torch.long, device=decoder.model.device)
        with torch.no_grad():
            seconds = best_seconds(functools.partial(decoder.step, token, STEP_CONTEXT), repeats, decoder.model.device)
        read = decode_step_bytes(
            decoder.model, _weight_bytes(stages), STEP_CONTEXT, decoder.head_rows, _cache_bytes(decoder.model)
        )
        rates[stage] = {
            "ms": round(seconds * 1e3, 3),
            "megabytes": round(read / 1e6, 3),
            "gb_per_s": round(read / seconds / 1e9, 3),
            "of_bandwidth": round(read / seconds / bandwidth, 3),
        }
    return rates


def _weight_bytes(stages: OptimizedBarkStages) -> float:
    """Bytes per linear weight our engine reads: one for the fast engine's 8-bit layers (on the CPU), else the
    model's dtype (the fast engine on a GPU runs in it)."""
    if stages.mode == "fast" and stages.bark_model.device.type == "cpu":
        return 1.0
    return float(stages.bark_model.dtype.itemsize)


def _cache_bytes(model: torch.nn.Module) -> float:
    """Bytes per cached key or value: the model's dtype (float32 on the CPU)."""
    return float(model.dtype.itemsize)


def _decode_engines() -> dict[str, str]:
    """Which implementation ran the decode steps: the forced one, or the measured choice per precision and batch size
    (e.g. `{"fp32, batch 1": "onnxruntime"}`)."""
    forced = engine_settings().pin(DECODE_ENGINES.variable)
    if forced:
        return {"forced": forced}
    chosen = {}
    for entry in CHOICES.report():
        if entry["kind"] == DECODE_ENGINES.name:
            key = entry["key"]
            chosen[f"{'int8' if key['int8'] else 'fp32'}, batch {_bucket_counts(key['batch'])}"] = entry["choice"]
    return chosen


def _bucket_counts(bucket: int, last: int | None = None) -> str:
    """The counts that share a choice keyed by `count.bit_length()`, as text: "1", "8-15", or "512+" where `last` is
    the count from which every larger one shares the bucket too (`rows_bucket`'s `LARGE_ROWS`)."""
    low, high = 2 ** (bucket - 1), 2**bucket - 1
    if low == last:
        return f"{low}+"
    return str(low) if low == high else f"{low}-{high}"


def _attention_choices() -> dict[str, dict[str, str]]:
    """How each engine attended over several queries (prompts, fine windows): the forced way, or the measured choice
    per shape (e.g. `{"exact": {"queries 512+ over keys 512+, unmasked": "float32_heads"}}`); empty where nothing was
    timed (a single candidate)."""
    report, entries = {}, CHOICES.report()
    for engine, cache in (("exact", EXACT_ATTENTION_KERNELS), ("fast", ATTENTION_KERNELS)):
        forced = engine_settings().pin(cache.variable)
        if forced:
            report[engine] = {"forced": forced}
            continue
        report[engine] = {
            _attention_shape(entry["key"]): entry["choice"] for entry in entries if entry["kind"] == cache.name
        }
    return report


def _attention_shape(key: dict[str, Any]) -> str:
    """An attention choice's key (`bark_vocos.choices.AttentionKey`'s fields) as text."""
    queries, keys = _bucket_counts(key["queries"], LARGE_ROWS), _bucket_counts(key["keys"], LARGE_ROWS)
    kind = "causal" if key["causal"] else "masked" if key["masked"] else "unmasked"
    return f"queries {queries} over keys {keys}, {kind}"


def _speculation(stages: OptimizedBarkStages) -> dict[str, dict[str, Any]]:
    """Per causal stage of the exact engine, the draft count its measured choice now takes (`chosen`; 0 drafts: plain
    steps) and the tokens chosen per timed round of speculative decoding per draft count tried
    (e.g. `{"semantic": {"chosen": 4, "tokens_per_round": {"0": 1.0, "2": 2.7, "4": 4.3}}}`)."""
    report = {}
    for name, stage in (("semantic", stages.semantic), ("coarse", stages.coarse_acoustics)):
        rounds = stage.decoder.round_times
        report[name] = {
            "chosen": stage.decoder.draft_count() if rounds else 0,
            "tokens_per_round": {
                str(drafts): round(tokens / (count - 1), 2)
                for (_, drafts), (_, tokens, count) in sorted(rounds.items())
                if count > 1
            },
        }
    return report


def _warm_up(model: BarkModel) -> None:
    """One short forward of each sub-model so one-off kernel set-up is not charged to whichever runs first."""
    with torch.no_grad():
        ids = torch.zeros(1, 8, dtype=torch.long, device=model.device)
        model.semantic(input_ids=ids, use_cache=False)
        model.coarse_acoustics(input_ids=ids, use_cache=False)
        model.fine_acoustics(2, input_ids=torch.zeros(1, 8, 8, dtype=torch.long, device=model.device))
