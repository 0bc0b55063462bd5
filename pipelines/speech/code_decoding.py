"""Bark's fine codes to audio with Vocos or Bark's EnCodec: in one pass, or chunk by chunk exact at the joins; outputs.

Rates and hops are read from the loaded models' configs. The functions take the Bark model and the vocoder as they are
at the call (a pipeline's cpu offload may have moved them).
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import torch
from tqdm.auto import tqdm

from bark_vocos.vocos.streaming import IncrementalDecoder, vocos_context_frames

from .long_form import FADE_SECONDS, PauseInserter, join_with_pauses
from .outputs import TextToWavOutput

if TYPE_CHECKING:
    from transformers import BarkModel

    from bark_vocos import VocosEncodecModel
    from bark_vocos.bark import BarkTokens

    from .bark_generation import SpeechPlan

__all__ = [
    "ENCODEC_RIGHT_CONTEXT",
    "decode_one_pass",
    "decode_texts",
    "hop_length",
    "incremental_decoder",
    "pause_inserter",
    "sampling_rate",
]

# EnCodec's decoder (causal convolutions and an LSTM) has unbounded left memory: streamed, it decodes from the start
# of the text each time and holds back this many frames at the end (its last transposed convolutions' reach).
ENCODEC_RIGHT_CONTEXT = 2


def sampling_rate(bark: BarkModel, vocoder: VocosEncodecModel | None, decoder: str = "vocos") -> int:
    """Samples per second of `decoder`'s audio, from the loaded model's config."""
    if decoder == "vocos":
        return int(vocoder.config.sample_rate)
    return int(bark.codec_model.config.sampling_rate)


def hop_length(bark: BarkModel, vocoder: VocosEncodecModel | None, decoder: str = "vocos") -> int:
    """Samples per code frame of `decoder`, from the loaded model's config."""
    if decoder == "vocos":
        return int(vocoder.config.hop_length)
    return math.prod(bark.codec_model.config.upsampling_ratios)


def decode_one_pass(
    bark: BarkModel, vocoder: VocosEncodecModel | None, codes: torch.Tensor, decoder: str
) -> torch.Tensor:
    """Fine codes `(8, T)` -> float32 audio `(T * hop_length,)` on the decoder's device, in one pass.

    Bark may end a text at once (an end token first): no frames give no samples rather than an error.
    """
    if codes.shape[1] == 0:
        return torch.zeros(0, device=codes.device)
    if decoder == "vocos":
        device = next(vocoder.parameters()).device
        return vocoder(codes=codes.to(device)).audio[0].float()
    if getattr(bark, "codec_model_hook", None) is not None:
        bark.codec_model = bark.codec_model.to(bark.device)
    return bark.codec_decode(codes[None].to(bark.device))[0].float().reshape(-1)


def incremental_decoder(
    bark: BarkModel, vocoder: VocosEncodecModel | None, decoder: str = "vocos"
) -> IncrementalDecoder:
    """A decoder for one text's codes given chunk by chunk, exact at the joins (see `bark_vocos.vocos.streaming`).

    Vocos decodes each new stretch with its receptive field of context; EnCodec (unbounded memory) decodes from
    the text's start each time, which costs more as the text grows.
    """
    if decoder == "vocos":
        context = vocos_context_frames(vocoder.config)
        hop = hop_length(bark, vocoder, "vocos")
        return IncrementalDecoder(lambda c: decode_one_pass(bark, vocoder, c, "vocos"), hop, context, context)
    return IncrementalDecoder(
        lambda c: decode_one_pass(bark, vocoder, c, "encodec"),
        hop_length(bark, vocoder, "encodec"),
        None,
        ENCODEC_RIGHT_CONTEXT,
    )


def pause_inserter(bark: BarkModel, vocoder: VocosEncodecModel | None, plan: SpeechPlan) -> PauseInserter:
    """A fresh `PauseInserter` for `plan`'s pauses, with `FADE_SECONDS` fades at `plan.decoder`'s rate."""
    return PauseInserter(plan.pause, int(round(FADE_SECONDS * sampling_rate(bark, vocoder, plan.decoder))))


def decode_texts(
    bark: BarkModel,
    vocoder: VocosEncodecModel | None,
    plan: SpeechPlan,
    tokens: dict[tuple[int, int], BarkTokens],
    output_full: bool,
    bar_options: dict,
) -> list[TextToWavOutput]:
    """One `TextToWavOutput` per text of `plan`: its chunks' fine codes decoded in one pass, pauses at the joins.

    Args:
        bark: The Bark model (its EnCodec decodes with `plan.decoder == "encodec"`).
        vocoder: The Vocos vocoder (decodes with `"vocos"`).
        plan: The planned call.
        tokens: `(text index, chunk index)` -> that chunk's Bark tokens.
        output_full: Also keep `semantic_tokens` and `coarse_tokens`.
        bar_options: Options of the tqdm bar over the texts.
    """
    decoder = plan.decoder
    hop = hop_length(bark, vocoder, decoder)
    outputs = []
    for text_index, text_chunks in enumerate(tqdm(plan.chunks, desc="decode", unit="text", **bar_options)):
        items = [tokens[text_index, chunk.index] for chunk in text_chunks]
        codes = torch.cat([item.fine for item in items], dim=1)
        pieces = [(item.frames, chunk.last) for chunk, item in zip(text_chunks, items, strict=True)]
        audio = decode_one_pass(bark, vocoder, codes, decoder).cpu().numpy()
        output = TextToWavOutput(
            audio=join_with_pauses(audio, pieces, hop, pause_inserter(bark, vocoder, plan)),
            sampling_rate=sampling_rate(bark, vocoder, decoder),
            codes=codes.cpu().numpy(),
            seed=plan.seed,
            chunks=[chunk.text for chunk in text_chunks],
            chunk_frames=[item.frames for item in items],
        )
        if output_full:
            output.semantic_tokens = torch.cat([item.semantic for item in items]).cpu().numpy()
            output.coarse_tokens = torch.cat([item.coarse for item in items], dim=1).cpu().numpy()
        outputs.append(output)
    return outputs
