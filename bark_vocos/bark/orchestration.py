"""Bark glue: run transformers' three Bark stages exactly as `BarkModel.generate` does, keeping every stage's tokens.

`BarkModel.generate` runs semantic -> coarse -> fine and then decodes with EnCodec, returning only audio. bark-vocos
needs the fine codes (to decode them with Vocos) and the semantic/coarse tokens (to save voice presets), so
`generate_bark_tokens` makes the same three sub-model `generate` calls with the same arguments and generation configs,
and returns the tokens. The three stages are reached through a `BarkStages` object, so a faster implementation with
the same three `generate` signatures can be dropped in without touching the pipeline.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

__all__ = [
    "BarkGenerationConfigs",
    "BarkStages",
    "BarkTokens",
    "coarse_frames_for_semantic",
    "generate_bark_tokens",
    "split_generation_kwargs",
]


@dataclass
class BarkStages:
    """The three Bark stages, each an object with the `generate` method of its transformers sub-model.

    Attributes:
        semantic: Has `BarkSemanticModel.generate`'s signature (text ids -> semantic tokens).
        coarse_acoustics: Has `BarkCoarseModel.generate`'s signature (semantic -> two interleaved codebooks).
        fine_acoustics: Has `BarkFineModel.generate`'s signature (coarse -> eight codebooks).
    """

    semantic: Any
    coarse_acoustics: Any
    fine_acoustics: Any

    @classmethod
    def from_bark(cls, bark) -> BarkStages:
        """The stages of a `transformers.BarkModel`: its own sub-models."""
        return cls(semantic=bark.semantic, coarse_acoustics=bark.coarse_acoustics, fine_acoustics=bark.fine_acoustics)


@dataclass
class BarkGenerationConfigs:
    """The per-stage generation configs `BarkModel.generate` builds from `BarkModel.generation_config`."""

    semantic: Any
    coarse: Any
    fine: Any
    codebook_size: int

    @classmethod
    def from_bark(cls, bark) -> BarkGenerationConfigs:
        """Build them as `BarkModel.generate` does: the Bark*GenerationConfig classes from the nested dicts."""
        from transformers.models.bark.generation_configuration_bark import (
            BarkCoarseGenerationConfig,
            BarkFineGenerationConfig,
            BarkSemanticGenerationConfig,
        )

        config = bark.generation_config
        return cls(
            semantic=BarkSemanticGenerationConfig(**config.semantic_config),
            coarse=BarkCoarseGenerationConfig(**config.coarse_acoustics_config),
            fine=BarkFineGenerationConfig(**config.fine_acoustics_config),
            codebook_size=config.codebook_size,
        )


@dataclass
class BarkTokens:
    """Every stage's tokens for a batch, each item trimmed to its own length.

    Attributes:
        semantic: One `(S_i,)` int64 tensor per item: semantic tokens without end/pad tokens.
        coarse: One `(n_coarse_codebooks, T_i)` int64 tensor per item: coarse codes in `[0, codebook_size)`.
        fine: One `(n_fine_codebooks, T_i)` int64 tensor per item: fine codes in `[0, codebook_size)`, 75 frames/s.
    """

    semantic: list[torch.Tensor]
    coarse: list[torch.Tensor]
    fine: list[torch.Tensor]


def split_generation_kwargs(kwargs: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
    """Split keyword arguments per stage as `BarkModel.generate` does.

    `semantic_`/`coarse_`/`fine_` prefixed keys go to that stage only and win over unprefixed keys, which go to all
    three. `attention_mask` and `min_eos_p` go to the semantic stage only (`min_eos_p` is always present, `None` by
    default, exactly as in `BarkModel.generate`).

    Returns:
        `(semantic_kwargs, coarse_kwargs, fine_kwargs)`.
    """
    kwargs = dict(kwargs)
    semantic = {"attention_mask": kwargs.pop("attention_mask", None), "min_eos_p": kwargs.pop("min_eos_p", None)}
    coarse: dict[str, Any] = {}
    fine: dict[str, Any] = {}
    for key, value in kwargs.items():
        if key.startswith("semantic_"):
            semantic[key[len("semantic_") :]] = value
        elif key.startswith("coarse_"):
            coarse[key[len("coarse_") :]] = value
        elif key.startswith("fine_"):
            fine[key[len("fine_") :]] = value
        else:
            for stage in (semantic, coarse, fine):
                stage.setdefault(key, value)
    for stage in (semantic, coarse, fine):
        stage.pop("generation_config", None)
    return semantic, coarse, fine


def coarse_frames_for_semantic(num_semantic: int, configs: BarkGenerationConfigs) -> int:
    """Coarse frames (75 Hz) the coarse stage makes from `num_semantic` semantic tokens, as `BarkCoarseModel` counts."""
    n_coarse = configs.coarse.n_coarse_codebooks
    ratio = configs.coarse.coarse_rate_hz / configs.semantic.semantic_rate_hz * n_coarse
    return int(np.floor(num_semantic * ratio / n_coarse))


@torch.no_grad()
def generate_bark_tokens(
    stages: BarkStages,
    configs: BarkGenerationConfigs,
    input_ids: torch.Tensor,
    history_prompt: dict[str, torch.Tensor] | None = None,
    *,
    semantic_kwargs: dict[str, Any] | None = None,
    coarse_kwargs: dict[str, Any] | None = None,
    fine_kwargs: dict[str, Any] | None = None,
    after_semantic=None,
    after_fine=None,
) -> BarkTokens:
    """Run semantic -> coarse -> fine with the calls and arguments of `BarkModel.generate`; keep every stage's tokens.

    With the same weights, inputs, keyword arguments and torch seed, the fine codes equal those `BarkModel.generate`
    hands to `codec_decode`.

    Args:
        stages: The three stages.
        configs: Their generation configs.
        input_ids: Text ids from `BarkProcessor`, shape `(B, L)`.
        history_prompt: Voice preset tensors `semantic_prompt (S,)`, `coarse_prompt (2, T)`, `fine_prompt (8, T)`.
        semantic_kwargs: Keyword arguments of the semantic stage (see `split_generation_kwargs`).
        coarse_kwargs: Keyword arguments of the coarse stage.
        fine_kwargs: Keyword arguments of the fine stage.
        after_semantic: Called with the semantic output `(B, S)` before the coarse stage (progress reporting).
        after_fine: Called with no argument after the fine stage (e.g. to offload the fine model).

    Returns:
        The tokens of each stage, each batch item trimmed to its own length (Bark's output lengths).
    """
    semantic_kwargs = {"attention_mask": None, "min_eos_p": None, **(semantic_kwargs or {})}
    semantic_output = stages.semantic.generate(
        input_ids,
        history_prompt=history_prompt,
        semantic_generation_config=configs.semantic,
        **semantic_kwargs,
    )
    pad = configs.semantic.semantic_pad_token
    semantic_tokens = [row[row != pad].to(torch.int64).cpu() for row in semantic_output]
    if after_semantic is not None:
        after_semantic(semantic_output)

    # the coarse stage overwrites pad tokens of its input in place, as inside BarkModel.generate
    coarse_output, output_lengths = stages.coarse_acoustics.generate(
        semantic_output,
        history_prompt=history_prompt,
        semantic_generation_config=configs.semantic,
        coarse_generation_config=configs.coarse,
        codebook_size=configs.codebook_size,
        return_output_lengths=True,
        **(coarse_kwargs or {}),
    )
    n_coarse = configs.coarse.n_coarse_codebooks
    frames = (output_lengths // n_coarse).tolist()

    fine_output = stages.fine_acoustics.generate(
        coarse_output,
        history_prompt=history_prompt,
        semantic_generation_config=configs.semantic,
        coarse_generation_config=configs.coarse,
        fine_generation_config=configs.fine,
        codebook_size=configs.codebook_size,
        **(fine_kwargs or {}),
    )
    if after_fine is not None:
        after_fine()

    # (B, n_coarse * T) interleaved with per-codebook offsets -> (B, n_coarse, T) codes, as BarkFineModel.generate does
    coarse_codes = coarse_output.view(coarse_output.shape[0], -1, n_coarse)
    coarse_codes = torch.remainder(coarse_codes - configs.semantic.semantic_vocab_size, configs.codebook_size)
    coarse_codes = coarse_codes.transpose(1, 2)
    return BarkTokens(
        semantic=semantic_tokens,
        coarse=[codes[:, :n].to(torch.int64).cpu() for codes, n in zip(coarse_codes, frames, strict=True)],
        fine=[codes[:, :n].to(torch.int64).cpu() for codes, n in zip(fine_output, frames, strict=True)],
    )
