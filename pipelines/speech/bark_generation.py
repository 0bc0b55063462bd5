"""Bark's tokens for a planned request: its chunks' batches generated in order, seeded, prompted, with progress bars.

`TextToWavPipeline` checks and plans a call into a `SpeechPlan`; `BarkChunkGenerator` runs Bark's three stages over
it, batch by batch, and yields each chunk's `BarkTokens` as soon as its batch is done.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import torch

from bark_vocos.bark import BarkGenerationConfigs, BarkTokens, coarse_frames_for_semantic, generate_bark_tokens
from bark_vocos.tuning import save_record

from .devices import SeededRandom
from .long_form import Chunk
from .progress import StageBars

if TYPE_CHECKING:
    from transformers import BarkModel, BarkProcessor

__all__ = ["BarkChunkGenerator", "SpeechPlan"]


@dataclass
class SpeechPlan:
    """A checked call: its texts' chunks, the order they are generated in, and the settings they share.

    Attributes:
        chunks: Each text's chunks, in text order.
        batches: The chunks in generation order, grouped into batches (a text's first chunk alone).
        history: The voice prompt as Bark's tensors (`semantic_prompt`, `coarse_prompt`, `fine_prompt`), or `None`.
        seed: The generation's seed.
        decoder: `"vocos"` or `"encodec"`.
        pause: Silence between chunks, in samples of `decoder`'s rate.
        prompt_with_previous: Prompt each chunk with its text's previous chunk instead of `history`.
        generation_kwargs: Extra options of Bark's stages (as `BarkModel.generate` takes them).
    """

    chunks: list[list[Chunk]]
    batches: list[list[Chunk]]
    history: dict[str, torch.Tensor] | None
    seed: int
    decoder: str
    pause: int
    prompt_with_previous: bool
    generation_kwargs: dict[str, Any]


class BarkChunkGenerator:
    """Runs Bark's stages over a `SpeechPlan` (build one per call: it holds the pipeline's parts as they are then).

    Args:
        bark: The Bark model (its device; its cpu-offload hook, if any).
        processor: Bark's processor (its tokenizer pads each batch).
        stages: The engine running Bark's three stages.
        configs: Bark's generation configs.
        bar_config: Options of the per-stage tqdm bars.
    """

    def __init__(
        self,
        bark: BarkModel,
        processor: BarkProcessor,
        stages: Any,
        configs: BarkGenerationConfigs,
        bar_config: dict[str, Any],
    ):
        self.bark = bark
        self.processor = processor
        self.stages = stages
        self.configs = configs
        self.bar_config = bar_config

    def generate(self, plan: SpeechPlan, progress: bool) -> Iterator[tuple[Chunk, BarkTokens]]:
        """Bark's tokens of every chunk, in order, each yielded as soon as its batch is generated.

        The generation runs with the plan's seed (`SeededRandom`), so the caller's random state is untouched and
        a consumer may stop between chunks: nothing runs until the next item is asked for.
        """
        rng = SeededRandom(plan.seed, self.bark.device)
        bars = None
        if progress:
            steps = self.configs.semantic.max_new_tokens * len(plan.batches)
            bars = StageBars(steps, len(plan.batches), self.bar_config)
        previous: dict[int, BarkTokens] = {}  # text index -> its last chunk's tokens, for prompt_with_previous
        try:
            for batch in plan.batches:
                history = plan.history
                if plan.prompt_with_previous and batch[0].index > 0:
                    last = previous[batch[0].text_index]
                    history = {"semantic_prompt": last.semantic, "coarse_prompt": last.coarse, "fine_prompt": last.fine}
                with rng.active():
                    tokens = self.generate_batch(batch, history, plan.generation_kwargs, bars)
                save_record()  # what this batch measured, kept for the next process even if the caller stops here
                for chunk, item in zip(batch, tokens, strict=True):
                    previous[chunk.text_index] = item
                    yield chunk, item
        finally:
            if bars is not None:
                bars.close()

    def generate_batch(
        self,
        batch: list[Chunk],
        history: dict[str, torch.Tensor] | None,
        generation_kwargs: dict[str, Any],
        bars: StageBars | None,
    ) -> list[BarkTokens]:
        """Bark's tokens for one batch of chunks sharing one voice prompt."""
        padded = self.processor.tokenizer.pad(
            {"input_ids": [chunk.input_ids for chunk in batch]},
            padding="max_length",
            max_length=int(self.configs.semantic.max_input_semantic_length),
            return_attention_mask=True,
            return_tensors="pt",
        )
        kwargs = {**generation_kwargs, "attention_mask": padded["attention_mask"].to(self.bark.device)}
        on_semantic = None
        if bars is not None:
            kwargs.update(bars.generation_kwargs())
            configs = self.configs

            def on_semantic(semantic_output: torch.Tensor) -> None:
                longest = int((semantic_output != configs.semantic.semantic_pad_token).sum(1).max())
                coarse_tokens = configs.coarse.n_coarse_codebooks * coarse_frames_for_semantic(longest, configs)
                bars.add_coarse_tokens(coarse_tokens)

        def after_fine() -> None:
            if getattr(self.bark, "fine_acoustics_hook", None) is not None:
                self.bark.fine_acoustics_hook.offload()  # as BarkModel.generate does with cpu offload
            if bars is not None:
                bars.fine.update(1)

        return generate_bark_tokens(
            self.stages,
            self.configs,
            padded["input_ids"].to(self.bark.device),
            history,
            on_semantic=on_semantic,
            after_fine=after_fine,
            **kwargs,
        )
