"""`bark-vocos bench pipeline`: transformers' Bark + EnCodec against our stages + Vocos, per stage and end to end.

Both run in the same process on the same bark-small-shaped model with RANDOM weights (nothing is downloaded;
the audio is noise, never speech). The semantic length is forced (`min_new_tokens = max_new_tokens`) so both
generate the same number of tokens. Ratios (reference time / our time) are what counts: absolute times depend
on the machine and its load.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
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
from bark_vocos.choices import CHOICES
from bark_vocos.settings import settings as engine_settings
from bark_vocos.testing import BARK_SMALL, QUICK, SMALL_WINDOWS, random_bark_model, random_vocoder
from bark_vocos.timing import untimed

from ..io.files import atomic_output, check_writable
from ..speech.devices import resolve_device, resolve_dtype
from .engine_report import attention_choices, decode_engines, speculation_report
from .floors import STEP_CONTEXT, machine_rates, roofline_floors, step_rates
from .machine import (
    bench_metadata,
    describe_machine,
    set_threads,
)
from .stage_timer import StageTimer

__all__ = ["RANDOM_WEIGHTS_NOTE", "run"]

RANDOM_WEIGHTS_NOTE = "random weights: timings and token agreement only, the audio is noise, not speech"


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


def _reference(model: BarkModel, input_ids: torch.Tensor, kwargs: dict) -> tuple[dict, StageTimer]:
    """transformers' `BarkModel.generate` (EnCodec decode included), timed per stage."""
    timer = StageTimer(model.device)
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
) -> tuple[dict, StageTimer]:
    """Our stages through the one orchestration (`generate_bark_tokens`), then Vocos on the fine codes, per stage."""
    timer = StageTimer(stages.bark_model.device)
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


def _stage_agreement(model: BarkModel, stages: OptimizedBarkStages, exact: StageTimer) -> dict[str, float]:
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


def _entry(
    model: BarkModel,
    vocoder: VocosEncodecModel,
    stages: OptimizedBarkStages,
    rounds: list[dict[str, dict[str, float]]],
    timers: dict[str, StageTimer],
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
    floors, bark_rate = roofline_floors(model, vocoder, stages, args, rates, speculation)
    entry["roofline"] = {floor.stage: asdict(floor) for floor in floors}
    entry["time_breakdown_last_round"] = timer.breakdown()
    entry["decode_step_alone"] = step_rates(stages, rates["read"])
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
) -> tuple[list[dict[str, dict[str, float]]], dict[str, StageTimer]]:
    """Interleaved rounds (reference, then each mode, again and again): a change in the machine's load hits every
    side of a round alike, and the median of each round's ratio neither fakes nor hides a gain."""
    rounds: list[dict[str, dict[str, float]]] = []
    timers: dict[str, StageTimer] = {}
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
    rates = machine_rates(engines, device, dtype)
    names = {"read": "read_gb_per_s", "matmul": "matmul_gflop_per_s", "int8": "int8_gop_per_s"}
    results["rates"] = {names.get(key, "bfloat16_gflop_per_s"): round(value / 1e9, 1) for key, value in rates.items()}
    speculation = speculation_report(engines["exact"]) if "exact" in engines else {}
    results["repeats"] = args.repeats
    results["reference_s"] = _median_times([r["reference"] for r in rounds])
    print(f"reference (transformers BarkModel.generate + EnCodec), median of {args.repeats}: {results['reference_s']}")
    for mode, stages in engines.items():
        results[mode], floors, bark_rate = _entry(model, vocoder, stages, rounds, timers, args, rates, speculation)
        _print_entry(mode, results[mode], floors, bark_rate, rates)
    results["decode_engines"] = decode_engines()
    print(f"decode step implementation (measured per batch size, or forced): {results['decode_engines']}")
    results["attention"] = attention_choices()
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


def _warm_up(model: BarkModel) -> None:
    """One short forward of each sub-model so one-off kernel set-up is not charged to whichever runs first."""
    with torch.no_grad():
        ids = torch.zeros(1, 8, dtype=torch.long, device=model.device)
        model.semantic(input_ids=ids, use_cache=False)
        model.coarse_acoustics(input_ids=ids, use_cache=False)
        model.fine_acoustics(2, input_ids=torch.zeros(1, 8, 8, dtype=torch.long, device=model.device))
