"""The one orchestration of Bark's stages: semantic -> coarse -> fine, as `BarkModel.generate` runs them.

`BarkModel.generate` runs the three stages and then decodes with EnCodec, returning only audio. bark-vocos needs the
fine codes (to decode them with Vocos) and the semantic/coarse tokens (to save voice presets), so
`generate_bark_tokens` makes the same three stage `generate` calls with the same arguments and generation configs and
returns every stage's tokens, per batch item, on Bark's device. Every engine (`bark_vocos.bark.engines`) runs through
this one function; engines differ only in how a stage's `generate` runs.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from transformers import BarkModel
from transformers.models.bark.generation_configuration_bark import (
    BarkCoarseGenerationConfig,
    BarkFineGenerationConfig,
    BarkSemanticGenerationConfig,
)

__all__ = [
    "BarkGenerationConfigs",
    "BarkTokens",
    "coarse_codes",
    "coarse_frames_for_semantic",
    "generate_bark_tokens",
    "split_generation_kwargs",
]

STAGE_PREFIXES = ("semantic_", "coarse_", "fine_")


@dataclass
class BarkGenerationConfigs:
    """The per-stage generation configs `BarkModel.generate` builds from `BarkModel.generation_config`."""

    semantic: BarkSemanticGenerationConfig
    coarse: BarkCoarseGenerationConfig
    fine: BarkFineGenerationConfig
    codebook_size: int

    @classmethod
    def from_bark(cls, bark: BarkModel) -> BarkGenerationConfigs:
        """Build them as `BarkModel.generate` does: the Bark*GenerationConfig classes from the nested dicts."""
        return cls.from_generation_config(bark.generation_config)

    @classmethod
    def from_generation_config(cls, config: Any) -> BarkGenerationConfigs:
        """The same from a Bark `GenerationConfig` (e.g. `GenerationConfig.from_pretrained`, without the weights)."""
        return cls(
            semantic=BarkSemanticGenerationConfig(**config.semantic_config),
            coarse=BarkCoarseGenerationConfig(**config.coarse_acoustics_config),
            fine=BarkFineGenerationConfig(**config.fine_acoustics_config),
            codebook_size=config.codebook_size,
        )


@dataclass
class BarkTokens:
    """Every stage's tokens for one batch item, trimmed to the item's own length, on Bark's device.

    Attributes:
        semantic: `(S,)` int64 semantic tokens without end/pad tokens.
        coarse: `(n_coarse_codebooks, T)` int64 coarse codes in `[0, codebook_size)`, 75 frames/s.
        fine: `(n_fine_codebooks, T)` int64 fine codes in `[0, codebook_size)`: what a decoder turns into audio.
    """

    semantic: torch.Tensor
    coarse: torch.Tensor
    fine: torch.Tensor

    @property
    def frames(self) -> int:
        """Number of 75 Hz frames `T`."""
        return int(self.fine.shape[1])


def split_generation_kwargs(kwargs: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
    """Split keyword arguments per stage as `BarkModel.generate` does.

    `semantic_`/`coarse_`/`fine_` prefixed keys go to that stage only and win over unprefixed keys, which go to all
    three. `attention_mask` and `min_eos_p` go to the semantic stage only (`min_eos_p` is always present, `None` by
    default, exactly as in `BarkModel.generate`). A `generation_config` key is dropped: each stage gets its own.

    Returns:
        `(semantic_kwargs, coarse_kwargs, fine_kwargs)`.
    """
    kwargs = dict(kwargs)
    semantic = {"attention_mask": kwargs.pop("attention_mask", None), "min_eos_p": kwargs.pop("min_eos_p", None)}
    stages = dict(zip(STAGE_PREFIXES, (semantic, {}, {}), strict=True))
    for key, value in kwargs.items():
        prefix = next((p for p in STAGE_PREFIXES if key.startswith(p)), None)
        if prefix is not None:
            stages[prefix][key[len(prefix) :]] = value
    for key, value in kwargs.items():
        if not key.startswith(STAGE_PREFIXES):
            for options in stages.values():
                options.setdefault(key, value)
    for options in stages.values():
        options.pop("generation_config", None)
    return semantic, stages["coarse_"], stages["fine_"]


def coarse_frames_for_semantic(num_semantic: int, configs: BarkGenerationConfigs) -> int:
    """Coarse frames (75 Hz) the coarse stage makes from `num_semantic` semantic tokens, as `BarkCoarseModel` counts."""
    n_coarse = configs.coarse.n_coarse_codebooks
    ratio = configs.coarse.coarse_rate_hz / configs.semantic.semantic_rate_hz * n_coarse
    return int(np.floor(num_semantic * ratio / n_coarse))


def coarse_codes(
    coarse_output: torch.Tensor, n_coarse: int, semantic_vocab_size: int, codebook_size: int
) -> torch.Tensor:
    """The coarse stage's output `(B, n_coarse * T)` (interleaved, with per-codebook offsets) as codes
    `(B, n_coarse, T)` in `[0, codebook_size)`, as `BarkFineModel.generate` reads it."""
    codes = coarse_output.view(coarse_output.shape[0], -1, n_coarse)
    return torch.remainder(codes - semantic_vocab_size, codebook_size).transpose(1, 2)


@torch.no_grad()
def generate_bark_tokens(
    stages: Any,
    configs: BarkGenerationConfigs,
    input_ids: torch.Tensor,
    history_prompt: dict[str, torch.Tensor] | None = None,
    *,
    on_semantic: Callable[[torch.Tensor], None] | None = None,
    after_fine: Callable[[], None] | None = None,
    **generation_kwargs: Any,
) -> list[BarkTokens]:
    """Run semantic -> coarse -> fine with the calls and arguments of `BarkModel.generate`; keep every stage's tokens.

    With the same weights, inputs, keyword arguments and torch seed, the fine codes equal those `BarkModel.generate`
    hands to `codec_decode` (trimmed per item to its output length).

    Args:
        stages: An engine: `semantic`, `coarse_acoustics` and `fine_acoustics` with transformers' `generate` methods
            (see `bark_vocos.bark.engines`).
        configs: The stages' generation configs.
        input_ids: Text ids as `BarkProcessor` makes them, `(B, L)`, on Bark's device.
        history_prompt: Voice preset tensors `semantic_prompt (S,)`, `coarse_prompt (2, T)`, `fine_prompt (8, T)`.
        on_semantic: Called with the semantic output `(B, S)` before the coarse stage (e.g. to size a progress bar).
        after_fine: Called with no argument after the fine stage (e.g. to offload the fine model).
        **generation_kwargs: As `BarkModel.generate` takes them (`attention_mask`, `min_eos_p`, stage-prefixed or
            unprefixed generation options, `semantic_streamer=...`), split by `split_generation_kwargs`.

    Returns:
        One `BarkTokens` per batch item, trimmed to its own length (Bark's output lengths), on Bark's device.
    """
    semantic_kwargs, coarse_kwargs, fine_kwargs = split_generation_kwargs(generation_kwargs)
    semantic_output = stages.semantic.generate(
        input_ids,
        history_prompt=history_prompt,
        semantic_generation_config=configs.semantic,
        **semantic_kwargs,
    )
    pad = configs.semantic.semantic_pad_token
    semantic = [row[row != pad].to(torch.int64) for row in semantic_output]
    if on_semantic is not None:
        on_semantic(semantic_output)

    # the coarse stage overwrites pad tokens of its input in place, as inside BarkModel.generate
    coarse_output, output_lengths = stages.coarse_acoustics.generate(
        semantic_output,
        history_prompt=history_prompt,
        semantic_generation_config=configs.semantic,
        coarse_generation_config=configs.coarse,
        codebook_size=configs.codebook_size,
        return_output_lengths=True,
        **coarse_kwargs,
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
        **fine_kwargs,
    )
    if after_fine is not None:
        after_fine()

    coarse = coarse_codes(coarse_output, n_coarse, configs.semantic.semantic_vocab_size, configs.codebook_size)
    return [
        BarkTokens(semantic=tokens, coarse=item[:, :n].to(torch.int64), fine=fine[:, :n].to(torch.int64))
        for tokens, item, fine, n in zip(semantic, coarse, fine_output, frames, strict=True)
    ]
