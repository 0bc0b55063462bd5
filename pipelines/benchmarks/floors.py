"""The memory and compute floors of `bench pipeline`: the machine's measured rates, each stage's roofline floor,
and one decode step timed alone against the bytes it must read."""

from __future__ import annotations

import argparse
import functools
from typing import Any

import torch
from transformers import BarkModel

from bark_vocos import VocosEncodecModel
from bark_vocos.bark import OptimizedBarkStages

from .machine import best_seconds, measure_int8_matmul_ops, measure_matmul_flops, measure_read_bandwidth
from .roofline import decode_step_bytes, stage_floors

__all__ = ["STEP_CONTEXT", "cache_bytes", "machine_rates", "roofline_floors", "step_rates", "weight_bytes"]


def machine_rates(
    engines: dict[str, OptimizedBarkStages], device: torch.device, dtype: torch.dtype
) -> dict[str, float]:
    """The machine's measured rates: read bandwidth and float32 (or `dtype`) products, and for the fast engine on the
    CPU its int8 and bfloat16 products (its compute floor counts each at its own rate)."""
    rates = {"read": measure_read_bandwidth(device=device), "matmul": measure_matmul_flops(device=device, dtype=dtype)}
    if "fast" in engines and device.type == "cpu":
        rates |= {"int8": measure_int8_matmul_ops(), "bfloat16": measure_matmul_flops(dtype=torch.bfloat16)}
    return rates


def roofline_floors(
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
        model, vocoder, args.semantic_tokens, rates["read"], peak, weight_bytes(stages), stages.mode == "exact",
        speculated, cache_bytes=cache_bytes(model), linear_peak=linear_peak, attention_peak=attention_peak,
    )  # fmt: skip
    bark_rate = f"{peak / 1e9:.0f} GFLOP/s"
    if (linear_peak, attention_peak) != (peak, peak):
        bark_rate = f"linear layers {linear_peak / 1e9:.0f} GOP/s int8, attention {attention_peak / 1e9:.0f} GFLOP/s"
    return floors, bark_rate


STEP_CONTEXT = 512  # cached positions of the decode steps `step_rates` times (a semantic step's, mid-sentence)


def step_rates(stages: OptimizedBarkStages, bandwidth: float, repeats: int = 20) -> dict[str, dict[str, float]]:
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
            decoder.model, weight_bytes(stages), STEP_CONTEXT, decoder.head_rows, cache_bytes(decoder.model)
        )
        rates[stage] = {  # 4 significant digits: a tiny model's step is well under a millisecond
            "ms": float(f"{seconds * 1e3:.4g}"),
            "megabytes": float(f"{read / 1e6:.4g}"),
            "gb_per_s": float(f"{read / seconds / 1e9:.4g}"),
            "of_bandwidth": float(f"{read / seconds / bandwidth:.4g}"),
        }
    return rates


def weight_bytes(stages: OptimizedBarkStages) -> float:
    """Bytes per linear weight our engine reads: one for the fast engine's 8-bit layers (on the CPU), else the
    model's dtype (the fast engine on a GPU runs in it)."""
    if stages.mode == "fast" and stages.bark_model.device.type == "cpu":
        return 1.0
    return float(stages.bark_model.dtype.itemsize)


def cache_bytes(model: torch.nn.Module) -> float:
    """Bytes per cached key or value: the model's dtype (float32 on the CPU)."""
    return float(model.dtype.itemsize)
