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
import os
import statistics
import time
from collections.abc import Callable
from dataclasses import asdict
from typing import Any

import torch
from transformers import (
    BarkCoarseConfig,
    BarkConfig,
    BarkFineConfig,
    BarkModel,
    BarkSemanticConfig,
    EncodecConfig,
    GenerationConfig,
)
from transformers.models.bark.generation_configuration_bark import (
    BarkGenerationConfig,
)

from bark_vocos import VocosEncodecConfig, VocosEncodecModel
from bark_vocos.bark import BarkGenerationConfigs, BarkTokens, FastBarkStages, generate_bark_tokens
from bark_vocos.bark.fast import ATTENTION_KERNELS, DECODE_ENGINES, EXACT_ATTENTION_KERNELS
from bark_vocos.kernels import LARGE_ROWS

from ..devices import resolve_device, resolve_dtype
from ..files import atomic_output, check_writable
from ..machine import (
    best_seconds,
    describe_machine,
    measure_int8_matmul_ops,
    measure_matmul_flops,
    measure_read_bandwidth,
    set_threads,
    synchronizer,
)
from ..roofline import decode_step_bytes, stage_floors

__all__ = ["SMALL_WINDOWS", "random_bark_model", "run"]

STAGES = ("semantic", "coarse", "fine", "decode")
RANDOM_WEIGHTS_NOTE = "random weights: timings and token agreement only, the audio is noise, not speech"

# suno/bark-small: three 12-layer, 12-head, 768-wide transformers (vocabularies from Bark's model_args)
BARK_SMALL = {"hidden_size": 768, "num_layers": 12, "num_heads": 12}
QUICK = {"hidden_size": 32, "num_layers": 2, "num_heads": 2}
# shorter windows than Bark's (same code paths: sliding coarse windows, several fine windows) for smoke runs
SMALL_WINDOWS = {
    "semantic_config": {"max_input_semantic_length": 64},
    "coarse_acoustics_config": {"max_coarse_input_length": 32, "max_coarse_history": 60, "sliding_window_len": 10},
    "fine_acoustics_config": {"max_fine_input_length": 64, "max_fine_history_length": 32},
}


def random_bark_model(
    hidden_size: int,
    num_layers: int,
    num_heads: int,
    seed: int = 0,
    initializer_range: float = 0.02,
    generation: dict[str, dict[str, Any]] | None = None,
) -> BarkModel:
    """A `BarkModel` with Bark's vocabularies and block size, the given transformer size and random weights.

    Args:
        hidden_size, num_layers, num_heads: size of each of the three transformers (bark-small: 768, 12, 12).
        seed: torch seed for the weights.
        initializer_range: std of the random weights.
        generation: per-stage overrides of Bark's default generation config (e.g. `SMALL_WINDOWS`).
    Returns:
        The model in eval mode (codec: default 24 kHz EnCodec shape, shrunk for hidden sizes below 128).
    """
    torch.manual_seed(seed)
    common = {
        "hidden_size": hidden_size,
        "num_layers": num_layers,
        "num_heads": num_heads,
        "block_size": 1024,
        "bias": False,
        "initializer_range": initializer_range,
    }
    codec = EncodecConfig() if hidden_size >= 128 else EncodecConfig(hidden_size=16, num_filters=4, codebook_dim=16)
    config = BarkConfig(
        semantic_config=BarkSemanticConfig(input_vocab_size=129_600, output_vocab_size=10_048, **common).to_dict(),
        coarse_acoustics_config=BarkCoarseConfig(input_vocab_size=12_096, output_vocab_size=12_096, **common).to_dict(),
        fine_acoustics_config=BarkFineConfig(
            input_vocab_size=1056, output_vocab_size=1056, n_codes_total=8, n_codes_given=1, **common
        ).to_dict(),
        codec_config=codec.to_dict(),
    )
    model = BarkModel(config).eval()
    # as stored in a checkpoint's generation_config.json: the stage configs are plain dicts
    model.generation_config = GenerationConfig.from_dict(BarkGenerationConfig(**(generation or {})).to_dict())
    return model


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

    def wrap(self, owner: Any, attribute: str, stage: str, counted: Callable[..., bool] | None = None) -> None:
        """Time `owner.attribute` under the name `stage`: every call, or those whose arguments `counted` accepts."""
        function: Callable = getattr(owner, attribute)

        def timed(*args, **kwargs):
            if counted is not None and not counted(*args, **kwargs):
                return function(*args, **kwargs)
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


def random_vocoder(quick: bool, seed: int) -> VocosEncodecModel:
    """A VocosEncodec with random weights (full size: the hf-audio/vocos-encodec-24khz shape) and a random codebook
    table, so that different codes decode to different audio."""
    torch.manual_seed(seed)
    sizes = {"hidden_size": 32, "intermediate_size": 48, "num_layers": 1} if quick else {}
    vocoder = VocosEncodecModel(VocosEncodecConfig(**sizes)).eval()
    with torch.no_grad():
        vocoder.codebook_weights.normal_(generator=torch.Generator().manual_seed(seed))
    return vocoder


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
    stages: FastBarkStages, vocoder: VocosEncodecModel, input_ids: torch.Tensor, kwargs: dict
) -> tuple[dict, _StageTimer]:
    """Our stages through the one orchestration (`generate_bark_tokens`), then Vocos on the fine codes, per stage."""
    timer = _StageTimer(stages.bark_model.device)
    timer.wrap(stages.semantic, "generate", "semantic")
    timer.wrap(stages.coarse_acoustics, "generate", "coarse")
    timer.wrap(stages.fine_acoustics, "generate", "fine")
    for stage, decoder in (("semantic", stages.semantic.decoder), ("coarse", stages.coarse_acoustics.decoder)):
        # a prompt is a pass over several positions; a PyTorch decode step also runs `forward`, for one
        timer.wrap(decoder, "forward", f"{stage} prompt", counted=lambda embeds, start: embeds.shape[1] > 1)
        timer.wrap(decoder, "step", f"{stage} decoding")
        timer.wrap(decoder, "speculate", f"{stage} decoding")
    timer.wrap(stages.fine_acoustics, "logits", "fine passes")
    try:
        items = generate_bark_tokens(stages, BarkGenerationConfigs.from_bark(stages.bark_model), input_ids, **kwargs)
    finally:
        timer.unwrap()
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


def _stage_agreement(model: BarkModel, stages: FastBarkStages, exact: _StageTimer) -> dict[str, float]:
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
    model: BarkModel, vocoder: VocosEncodecModel, stages: FastBarkStages, sentences: int, tokens: int, seed: int
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


def run(args: argparse.Namespace) -> int:
    """Build the random model, time reference and ours, print ratios, optionally write JSON."""
    for name in ("semantic_tokens", "long_form_tokens", "repeats"):
        if getattr(args, name) < 1:
            raise ValueError(f"--{name.replace('_', '-')} must be >= 1, got {getattr(args, name)}")
    if args.long_form_sentences < 0:
        raise ValueError(f"--long-form-sentences must be >= 0, got {args.long_form_sentences}")
    set_threads(args.threads)
    device, dtype = resolve_device(args.device), resolve_dtype(args.dtype)
    if device.type == "cpu" and dtype != torch.float32:
        raise ValueError(f"--dtype {args.dtype} needs --device cuda: on the CPU the engines run float32")
    if args.out is not None:
        check_writable(args.out)  # before minutes of benchmarking, not after
    size = QUICK if args.quick else BARK_SMALL
    print(f"bench pipeline: {RANDOM_WEIGHTS_NOTE}")
    shape = "a smoke run's tiny shape" if args.quick else "bark-small shape"
    print(f"model: 3 x {size} ({shape}), {str(dtype).removeprefix('torch.')} on {device}")
    print(describe_machine())
    model = random_bark_model(**size, seed=args.seed, generation=SMALL_WINDOWS if args.quick else None)
    model = model.to(device=device, dtype=dtype)  # as the pipeline loads it (`TextToWavPipeline.from_pretrained`)
    text_length = BarkGenerationConfigs.from_bark(model).semantic.max_input_semantic_length
    generator = torch.Generator().manual_seed(args.seed)
    input_ids = torch.randint(0, 20_000, (1, text_length), generator=generator)
    attention_mask = torch.zeros(1, text_length, dtype=torch.long)
    attention_mask[:, :40] = 1
    input_ids, attention_mask = input_ids.to(device), attention_mask.to(device)
    kwargs = {
        "attention_mask": attention_mask,
        "semantic_max_new_tokens": args.semantic_tokens,
        "semantic_min_new_tokens": args.semantic_tokens,  # early stop off: same length for both
    }
    _warm_up(model)

    results: dict[str, Any] = {
        "machine": describe_machine(),
        "note": RANDOM_WEIGHTS_NOTE,
        "model": size,
        "semantic_tokens": args.semantic_tokens,
        "torch_threads": torch.get_num_threads(),
        "device": str(device),
        "dtype": str(dtype).removeprefix("torch."),
    }
    vocoder = random_vocoder(args.quick, args.seed).to(device=device, dtype=dtype)
    engines = {mode: FastBarkStages(model, mode=mode) for mode in args.modes}
    # Warm-up: each engine's first call builds its ONNX Runtime sessions (where it has them) and times the kernel
    # choices for one sentence's shapes, here and not in the first round; what that costs is reported.
    results["first_call_s"] = {}
    for mode, stages in engines.items():
        start = time.perf_counter()
        _ours(stages, vocoder, input_ids, {**kwargs, "semantic_max_new_tokens": 8, "semantic_min_new_tokens": 8})
        results["first_call_s"][mode] = round(time.perf_counter() - start, 3)
    print(f"first call of each engine, 8 semantic tokens (sessions built, kernels chosen): {results['first_call_s']}")
    # Interleaved rounds (reference, then each mode, again and again): a change in the machine's load hits every side
    # of a round alike, and the median of each round's ratio neither fakes nor hides a gain.
    rounds: list[dict[str, dict[str, float]]] = []
    timers: dict[str, _StageTimer] = {}
    for _ in range(args.repeats):
        reference_times, timers["reference"] = _reference(model, input_ids, dict(kwargs))
        this_round = {"reference": reference_times}
        for mode, stages in engines.items():
            this_round[mode], timers[mode] = _ours(stages, vocoder, input_ids, dict(kwargs))
        rounds.append(this_round)
    bandwidth, peak = measure_read_bandwidth(device=device), measure_matmul_flops(device=device, dtype=dtype)
    rates = {"read_gb_per_s": bandwidth / 1e9, "matmul_gflop_per_s": peak / 1e9}
    # The fast engine on the CPU runs its linear layers in int8 and its attention over several queries in float32 or
    # bfloat16: its compute floor counts each at its own rate, not at the float32 one (under which its fine stage ran
    # at 0.4-0.6x "the floor", AMD EPYC Zen 5).
    fast_peaks = (peak, peak)
    if "fast" in engines and device.type == "cpu":
        int8_ops, bfloat16_flops = measure_int8_matmul_ops(), measure_matmul_flops(dtype=torch.bfloat16)
        rates |= {"int8_gop_per_s": int8_ops / 1e9, "bfloat16_gflop_per_s": bfloat16_flops / 1e9}
        fast_peaks = (int8_ops, max(peak, bfloat16_flops))
    results["rates"] = {name: round(value, 1) for name, value in rates.items()}
    speculation = _speculation(engines["exact"]) if "exact" in engines else {}
    reference = _median_times([r["reference"] for r in rounds])
    reference_timer = timers["reference"]
    results["repeats"] = args.repeats
    results["reference_s"] = reference
    print(f"reference (transformers BarkModel.generate + EnCodec), median of {args.repeats}: {reference}")
    for mode, stages in engines.items():
        times, timer = _median_times([r[mode] for r in rounds]), timers[mode]
        ratios = _median_ratios([r["reference"] for r in rounds], [r[mode] for r in rounds])
        entry: dict[str, Any] = {
            "seconds": times,
            "speedup": ratios,
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
            fp32_audio = _vocos_audio(
                vocoder,
                reference_codes,
                timer.outputs["lengths"].new_tensor([reference_codes.shape[-1]] * reference_codes.shape[0]),
            )
            entry["vocos_audio_relative_difference_vs_fp32_codes"] = _relative_difference(
                fp32_audio, timer.outputs["decode"]
            )
        exact = mode == "exact"
        linear_peak, attention_peak = fast_peaks if mode == "fast" else (peak, peak)
        speculated = {}
        if exact:  # the floor of what ran: speculative rounds read the float32 weights once for several tokens
            for stage, report in speculation.items():
                if report["chosen"]:
                    speculated[stage] = (report["chosen"], report["tokens_per_round"][str(report["chosen"])])
        floors = stage_floors(
            model,
            vocoder,
            args.semantic_tokens,
            bandwidth,
            peak,
            _weight_bytes(stages),
            exact,
            speculated,
            cache_bytes=_cache_bytes(model),
            linear_peak=linear_peak,
            attention_peak=attention_peak,
        )
        vocoder_rate = f"{peak / 1e9:.0f} GFLOP/s"  # the vocoder runs in float32 in every mode
        bark_rate = vocoder_rate
        if (linear_peak, attention_peak) != (peak, peak):
            bark_rate = (
                f"linear layers {linear_peak / 1e9:.0f} GOP/s int8, attention {attention_peak / 1e9:.0f} GFLOP/s"
            )
        entry["roofline"] = {floor.stage: asdict(floor) for floor in floors}
        entry["time_breakdown_last_round"] = timer.breakdown()
        entry["decode_step_alone"] = _step_rates(stages, bandwidth)
        results[mode] = entry
        print(f"{mode}: seconds {times}")
        print(f"{mode}: speedup vs reference (median of paired ratios) {ratios}")
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
    results["decode_engines"] = _decode_engines()
    print(f"decode step implementation (measured per batch size, or forced): {results['decode_engines']}")
    results["attention"] = _attention_choices()
    print(f"attention over several queries (measured per shape, or forced): {results['attention']}")
    if speculation:
        results["speculation"] = speculation
        print(f"exact: speculative decoding, the draft count chosen and the tokens per round of each: {speculation}")
    if args.long_form_sentences:
        mode = args.long_form_mode
        stages = engines[mode] if mode in engines else FastBarkStages(model, mode=mode)
        long_form = _long_form(model, vocoder, stages, args.long_form_sentences, args.long_form_tokens, args.seed)
        results["long_form"] = long_form
        print(f"long form, reference one sentence after another vs ours batched: {long_form}")
    if args.out is not None:
        with atomic_output(args.out) as tmp:
            tmp.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
        print(f"wrote {args.out}")
    return 0


STEP_CONTEXT = 512  # cached positions of the decode steps `_step_rates` times (a semantic step's, mid-sentence)


def _step_rates(stages: FastBarkStages, bandwidth: float, repeats: int = 20) -> dict[str, dict[str, float]]:
    """Per autoregressive stage, one decode step of one sequence alone, at `STEP_CONTEXT` cached positions, timed
    back to back: its time (the fastest of `repeats` runs after one untimed: interference only slows a run, and a
    median of ten read 5.9 ms where the decoding loop's steps averaged 4.3 ms on a machine growing busier), the bytes
    it must read (`decode_step_bytes`), the rate that makes, and that rate over the machine's measured read
    `bandwidth`. A step reads more than the last-level cache holds, so back to back it reads from memory as inside
    the decoding loop. Where this rate is well below the machine's, the step's own kernels, not the Python around
    them, keep the stage from its floor. It runs the implementation `step` measured and chose (float32 in the exact
    engine: its plain step, not speculative rounds). The cache is left marked empty (the next generation starts
    afresh)."""
    rates = {}
    for stage, decoder in (("semantic", stages.semantic.decoder), ("coarse", stages.coarse_acoustics.decoder)):
        decoder.allocate(1, STEP_CONTEXT + 1)
        for buffer in decoder.keys + decoder.values:
            buffer.zero_()
        token = torch.zeros(1, 1, dtype=torch.long, device=decoder.model.device)
        with torch.no_grad():
            seconds = best_seconds(functools.partial(decoder.step, token, STEP_CONTEXT), repeats, decoder.model.device)
        decoder.cached_ids = None
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


def _weight_bytes(stages: FastBarkStages) -> float:
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
    forced = os.environ.get(DECODE_ENGINES.variable)
    if forced:
        return {"forced": forced}
    chosen = {}
    for (_, _, bucket, _, int8), engine in sorted(DECODE_ENGINES.choices.items()):
        chosen[f"{'int8' if int8 else 'fp32'}, batch {_bucket_counts(bucket)}"] = engine
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
    report = {}
    for engine, cache in (("exact", EXACT_ATTENTION_KERNELS), ("fast", ATTENTION_KERNELS)):
        forced = os.environ.get(cache.variable)
        if forced:
            report[engine] = {"forced": forced}
            continue
        report[engine] = {
            f"queries {_bucket_counts(queries, LARGE_ROWS)} over keys {_bucket_counts(keys, LARGE_ROWS)}, "
            f"{'causal' if causal else 'masked' if masked else 'unmasked'}": name
            for (_, queries, keys, _, masked, causal, _), name in sorted(cache.choices.items())
        }
    return report


def _speculation(stages: FastBarkStages) -> dict[str, dict[str, Any]]:
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
