"""What the engines chose while `bench pipeline` ran: the decode-step implementation, the attention kernels per
shape, the speculative draft counts; all read from the registry of measured choices (`bark_vocos.choices.CHOICES`)."""

from __future__ import annotations

from typing import Any

from bark_vocos.bark import OptimizedBarkStages
from bark_vocos.bark.attention import ATTENTION_KERNELS, EXACT_ATTENTION_KERNELS
from bark_vocos.bark.decoder import DECODE_ENGINES
from bark_vocos.choices import CHOICES
from bark_vocos.kernels import LARGE_ROWS
from bark_vocos.settings import settings as engine_settings

__all__ = ["attention_choices", "attention_shape", "bucket_counts", "decode_engines", "speculation_report"]


def decode_engines() -> dict[str, str]:
    """Which implementation ran the decode steps: the forced one, or the measured choice per precision and batch size
    (e.g. `{"fp32, batch 1": "onnxruntime"}`)."""
    forced = engine_settings().pin(DECODE_ENGINES.variable)
    if forced:
        return {"forced": forced}
    chosen = {}
    for entry in CHOICES.report():
        if entry["kind"] == DECODE_ENGINES.name:
            key = entry["key"]
            chosen[f"{'int8' if key['int8'] else 'fp32'}, batch {bucket_counts(key['batch'])}"] = entry["choice"]
    return chosen


def bucket_counts(bucket: int, last: int | None = None) -> str:
    """The counts that share a choice keyed by `count.bit_length()`, as text: "1", "8-15", or "512+" where `last` is
    the count from which every larger one shares the bucket too (`rows_bucket`'s `LARGE_ROWS`)."""
    low, high = 2 ** (bucket - 1), 2**bucket - 1
    if low == last:
        return f"{low}+"
    return str(low) if low == high else f"{low}-{high}"


def attention_choices() -> dict[str, dict[str, str]]:
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
            attention_shape(entry["key"]): entry["choice"] for entry in entries if entry["kind"] == cache.name
        }
    return report


def attention_shape(key: dict[str, Any]) -> str:
    """An attention choice's key (`bark_vocos.choices.AttentionKey`'s fields) as text."""
    queries, keys = bucket_counts(key["queries"], LARGE_ROWS), bucket_counts(key["keys"], LARGE_ROWS)
    kind = "causal" if key["causal"] else "masked" if key["masked"] else "unmasked"
    return f"queries {queries} over keys {keys}, {kind}"


def speculation_report(stages: OptimizedBarkStages) -> dict[str, dict[str, Any]]:
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
