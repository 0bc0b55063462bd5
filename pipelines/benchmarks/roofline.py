"""How close a Bark stage runs to this machine's limits: the bytes it must read and the FLOPs it must do, divided by
the measured read bandwidth and matrix-product throughput (a roofline), beside the time it took.

The counts follow Bark's algorithm as transformers runs it, with nothing wasted:
- semantic and coarse (autoregressive): every generated token reads every weight of the linear layers once (the
  embedding tables are only indexed, and the coarse stage's LM head only in the rows of ids it can choose, not the
  semantic vocabulary's) plus the keys and values of its context, and does 2 FLOPs per weight plus the attention
  over its context; the prompt is one compute-bound pass. The coarse stage slides a 60-token window: once
  the window no longer starts at the first position (after about 630 coarse tokens), each window's prompt must be
  read again in one pass (at least: a lower bound);
- fine (not autoregressive): each of its passes (6 codebooks per 1024-frame window) runs the whole window through
  the transformer once; transformers pads a shorter input to the whole window, the fast engine does not (then the
  window is the frames that exist);
- decode (Vocos): one pass over all frames.
With speculative decoding (the exact engine, `speculation`), a round of `d` draft steps (8-bit weights) and one
float32 pass over `d + 1` positions yields `r` tokens (measured): a token then reads the float32 weights `1 / r` times
and the 8-bit ones `d / r` times, and the keys and values `(d + 1) / r` times; that is the floor of what ran.
A token's floor is the larger of its read time and its compute time; a stage's floor is the sum over its tokens or
passes. Compute time counts each kind of product at its own measured rate: the linear layers' (float32, or int8 in
the fast engine on the CPU), the attention's (float32, or the faster of float32 and bfloat16 where the fast engine may
choose either) and the vocoder's (float32 in every mode). Measured machine figures move with the load, so read this
beside the interleaved ratios, not alone.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from torch import nn
from transformers import BarkModel

from bark_vocos import VocosEncodecModel
from bark_vocos.bark import BarkGenerationConfigs, coarse_frames_for_semantic

__all__ = ["StageFloor", "decode_step_bytes", "stage_floors", "vocoder_work"]


@dataclass
class StageFloor:
    """A stage's work and the least time it can take here.

    Attributes:
        stage: "semantic", "coarse", "fine" or "decode".
        bytes_read: Bytes of weights and keys/values it must read.
        flops: Floating-point operations it must do.
        seconds: Its floor on this machine.
    """

    stage: str
    bytes_read: float
    flops: float
    seconds: float


def _linear_weights(module: nn.Module) -> int:
    return sum(layer.weight.numel() for layer in module.modules() if isinstance(layer, nn.Linear))


def decode_step_bytes(
    model: nn.Module,
    weight_bytes: float,
    context: int,
    head_rows: tuple[int, int] | None = None,
    cache_bytes: float = 4.0,
) -> float:
    """Bytes one decode step of `model` (a transformers `BarkCausalModel`) must read with `context` positions in its
    cache: the linear weights of its blocks and the LM head's rows it computes (`head_rows`, all if None), at
    `weight_bytes` each, and the keys and values of the context and the new position, at `cache_bytes` each (float32
    on the CPU)."""
    config = model.config
    head = model.lm_head.weight
    head_weights = head.numel() if head_rows is None else (head_rows[1] - head_rows[0]) * head.shape[1]
    weights = _linear_weights(model.layers) + head_weights
    return weights * weight_bytes + 2 * config.num_layers * config.hidden_size * cache_bytes * (context + 1)


def vocoder_work(vocoder: VocosEncodecModel, frames: int) -> tuple[float, float]:
    """(bytes, FLOPs) one float32 decode of `frames` frames must read and do: every weight of its matrix products (the
    linear layers and the embedding convolution) once, and 2 FLOPs per weight per frame."""
    config = vocoder.config
    weights = _linear_weights(vocoder) + config.codebook_dim * config.hidden_size * config.kernel_size
    return weights * 4.0, 2.0 * weights * frames


def _autoregressive(
    weights: int,
    weight_bytes: float,
    layers: int,
    width: int,
    contexts: list[int],
    prompt: int,
    bandwidth: float,
    linear_peak: float,
    attention_peak: float,
    speculation: tuple[int, float] | None = None,
    cache_bytes: float = 4.0,
) -> tuple[float, float, float]:
    """(bytes, flops, floor seconds) of a prompt pass then one token per context length in `contexts`, the linear
    layers' products at `linear_peak` and the attention's at `attention_peak`; with `speculation` = (drafts per round,
    tokens per round) as the module docstring counts it, and `cache_bytes` per cached key or value."""
    drafts, per_round = speculation or (0, 1.0)
    weight_reads = (weights * weight_bytes + drafts * weights) / per_round  # float32 once, 8-bit drafts d times
    passes = (drafts + 1) / per_round  # reads of the keys and values, and computed positions, per token
    prompt_linear, prompt_attention = 2 * weights * prompt, 4 * layers * width * prompt * prompt / 2
    total_bytes, total_flops = weights * weight_bytes, prompt_linear + prompt_attention
    seconds = prompt_linear / linear_peak + prompt_attention / attention_peak
    for context in contexts:
        token_bytes = weight_reads + passes * 2 * layers * width * cache_bytes * context  # weights, keys and values
        token_linear, token_attention = passes * 2 * weights, passes * 4 * layers * width * context
        total_bytes += token_bytes
        total_flops += token_linear + token_attention
        seconds += max(token_bytes / bandwidth, token_linear / linear_peak + token_attention / attention_peak)
    return total_bytes, total_flops, seconds


def stage_floors(
    bark: BarkModel,
    vocoder: VocosEncodecModel,
    semantic_tokens: int,
    bandwidth: float,
    peak: float,
    weight_bytes: float = 4.0,
    pad_fine_window: bool = True,
    speculation: dict[str, tuple[int, float]] | None = None,
    cache_bytes: float = 4.0,
    linear_peak: float | None = None,
    attention_peak: float | None = None,
) -> list[StageFloor]:
    """The floor of each stage for a generation of `semantic_tokens` semantic tokens without a voice prompt.

    Args:
        bark: The Bark model (its sub-models' shapes and generation config).
        vocoder: The Vocos decoder.
        semantic_tokens: Semantic tokens generated.
        bandwidth: Measured read bandwidth, bytes/s.
        peak: Measured matrix-product throughput, FLOP/s, in float32 on the CPU (the model's dtype on a GPU): the
            vocoder's, and Bark's where `linear_peak` or `attention_peak` is not given.
        weight_bytes: Bytes per weight of the linear layers (4 for float32, 1 for int8).
        pad_fine_window: Whether the fine stage pads a short input to its whole window (transformers and the exact
            engine do; the fast engine runs the frames that exist).
        speculation: per autoregressive stage ("semantic", "coarse") that decoded speculatively, (draft tokens per
            round, measured tokens per round); the others are counted as plain steps.
        cache_bytes: Bytes per cached key or value (4 on the CPU, the model's dtype on a GPU).
        linear_peak: Measured throughput of Bark's linear layers as the engine runs them, operations/s (the int8
            rate for the fast engine's 8-bit layers); `peak` if None.
        attention_peak: Measured throughput of the attention's products as the engine may run them, FLOP/s; `peak`
            if None.
    """
    speculation = speculation or {}
    linear_peak = peak if linear_peak is None else linear_peak
    attention_peak = peak if attention_peak is None else attention_peak
    rates = (linear_peak, attention_peak)
    configs = BarkGenerationConfigs.from_bark(bark)
    floors = []

    semantic = bark.semantic
    layers, width = semantic.config.num_layers, semantic.config.hidden_size
    prompt = configs.semantic.max_input_semantic_length + 1
    contexts = [prompt + t for t in range(semantic_tokens)]
    floors.append(
        StageFloor("semantic", *_autoregressive(_linear_weights(semantic), weight_bytes, layers, width, contexts,
                                                prompt, bandwidth, *rates, speculation.get("semantic"), cache_bytes))
    )  # fmt: skip

    coarse = bark.coarse_acoustics
    layers, width = coarse.config.num_layers, coarse.config.hidden_size
    frames = coarse_frames_for_semantic(semantic_tokens, configs)
    tokens = configs.coarse.n_coarse_codebooks * frames
    history, window = configs.coarse.max_coarse_history, configs.coarse.sliding_window_len
    prompt = configs.coarse.max_coarse_input_length + 1
    contexts = [prompt + min(history, t - t % window) + t % window for t in range(tokens)]  # window's history + new
    # the rows of the LM head for semantic ids are never chosen (the codebooks' ids follow them): not needed
    weights = _linear_weights(coarse) - configs.semantic.semantic_vocab_size * coarse.lm_head.weight.shape[1]
    read, flops, seconds = _autoregressive(
        weights, weight_bytes, layers, width, contexts, prompt, bandwidth, *rates, speculation.get("coarse"),
        cache_bytes,
    )  # fmt: skip
    refills = sum(1 for start in range(0, tokens, window) if start > history)  # windows whose prompt moved
    refill_flops = refills * 2 * weights * (prompt + history)
    floors.append(StageFloor("coarse", read + refills * weights * weight_bytes, flops + refill_flops,
                             seconds + refill_flops / linear_peak))  # fmt: skip

    fine = bark.fine_acoustics
    layers, width = fine.config.num_layers, fine.config.hidden_size
    window, step = configs.fine.max_fine_input_length, configs.fine.max_fine_history_length
    if not pad_fine_window:
        window = min(window, frames)
    loops = max(0, math.ceil((frames - window) / step)) + 1
    passes = loops * (configs.fine.n_fine_codebooks - configs.coarse.n_coarse_codebooks)
    weights = _linear_weights(fine.layers) + fine.lm_heads[0].weight.numel()  # one head per pass
    pass_bytes = weights * weight_bytes
    pass_linear, pass_attention = 2 * weights * window, 4 * layers * width * window * window
    pass_seconds = max(pass_bytes / bandwidth, pass_linear / linear_peak + pass_attention / attention_peak)
    floors.append(StageFloor("fine", passes * pass_bytes, passes * (pass_linear + pass_attention),
                             passes * pass_seconds))  # fmt: skip

    decode_bytes, decode_flops = vocoder_work(vocoder, frames)
    floors.append(StageFloor("decode", decode_bytes, decode_flops, max(decode_bytes / bandwidth, decode_flops / peak)))
    return floors
