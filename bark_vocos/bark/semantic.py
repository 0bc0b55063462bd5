"""The optimized semantic stage: drop-in for `BarkSemanticModel.generate` (text ids -> semantic tokens)."""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from transformers import BarkSemanticModel
from transformers.models.bark.generation_configuration_bark import BarkSemanticGenerationConfig

from .decoder import CausalDecoder
from .logits import SemanticScores
from .loop import decode_tokens
from .options import decode_config
from .sampling import choose, sampling_warpers

__all__ = ["SemanticStage"]


class SemanticStage:
    """Drop-in for `BarkSemanticModel.generate` (text ids -> semantic tokens), decoded by a `CausalDecoder`.

    Args:
        model: the transformers semantic sub-model (read, never modified).
        mode: `"exact"` or `"fast"`.
    """

    def __init__(self, model: BarkSemanticModel, mode: str):
        self.model = model
        self.decoder = CausalDecoder(model, mode)

    def _prompt(
        self,
        input_ids: torch.Tensor,
        config: Any,
        history_prompt: dict[str, torch.Tensor] | None,
        attention_mask: torch.Tensor | None,
    ) -> torch.Tensor:
        """The prompt's embeddings, as transformers builds them: `(B, S)` text ids -> `(B, 2 * max_input + 1, C)`
        (the text plus the history prompt's semantic tokens, then the infer token)."""
        model = self.model
        device = model.device
        batch = input_ids.shape[0]
        max_input = config.max_input_semantic_length
        input_ids = input_ids + config.text_encoding_offset
        if attention_mask is not None:
            input_ids = input_ids.masked_fill((1 - attention_mask).bool(), config.text_pad_token)
        if history_prompt is not None:
            history = history_prompt["semantic_prompt"][-max_input:]
            history = F.pad(history, (0, max_input - len(history)), value=config.semantic_pad_token)
        else:
            history = torch.full((max_input,), config.semantic_pad_token, device=device, dtype=torch.int)
        history = history[None].expand(batch, -1).to(device)
        infer = torch.full((batch, 1), config.semantic_infer_token, dtype=torch.int, device=device)
        embed = model.input_embeds_layer
        return torch.cat(
            [embed(input_ids[:, :max_input].to(device)) + embed(history[:, : max_input + 1]), embed(infer)], dim=1
        )

    @torch.no_grad()
    def generate(
        self,
        input_ids: torch.Tensor,
        semantic_generation_config: BarkSemanticGenerationConfig | None = None,
        history_prompt: dict[str, torch.Tensor] | None = None,
        attention_mask: torch.Tensor | None = None,
        **kwargs,
    ) -> torch.LongTensor:
        """Semantic tokens for tokenised text, as `BarkSemanticModel.generate`.

        Args:
            input_ids: `(B, S)` tokenised text (truncated to `max_input_semantic_length`).
            semantic_generation_config: the semantic generation config (required).
            history_prompt: optional speaker prompt with `semantic_prompt` `(N,)`.
            attention_mask: optional `(B, S)` mask; masked text positions become the text pad token.
            **kwargs: `min_eos_p`, `streamer` and generation options (`max_new_tokens`, `min_new_tokens`,
                `do_sample`, `temperature`, `top_k`, `top_p`); anything else runs transformers' method.
        Returns:
            `(B, N)` semantic tokens (EOS and padding after it included, as transformers returns them).
        Raises:
            ValueError: no semantic generation config.
        """
        if semantic_generation_config is None:
            raise ValueError("`semantic_generation_config` has to be provided")
        options = dict(kwargs)
        min_eos_p = options.pop("min_eos_p", semantic_generation_config.min_eos_p)
        streamer = options.pop("streamer", None)
        config = decode_config(self.model, semantic_generation_config, options)
        # without max_new_tokens transformers derives the length from max_length: leave that case to it
        if config is None or config.max_new_tokens is None:
            return self.model.generate(
                input_ids,
                semantic_generation_config=semantic_generation_config,
                history_prompt=history_prompt,
                attention_mask=attention_mask,
                **kwargs,
            )
        inputs_embeds = self._prompt(input_ids, config, history_prompt, attention_mask)
        batch, device = input_ids.shape[0], self.model.device
        scored = SemanticScores(config, self.model.config.output_vocab_size, min_eos_p, device)
        pad = config.pad_token_id if config.pad_token_id is not None else (scored.eos_ids or [None])[0]
        warpers = sampling_warpers(config)
        if streamer is not None:  # the placeholder ids transformers' generate is given (and streams) as the prompt
            streamer.put(torch.ones(batch, inputs_embeds.shape[1], dtype=torch.int))
        self.decoder.allocate(batch, inputs_embeds.shape[1] + config.max_new_tokens)
        tokens = decode_tokens(
            self.decoder,
            self.decoder.forward(inputs_embeds, 0),
            config.max_new_tokens,
            lambda step, logits, draw: choose(scored(step, logits), config, warpers, draw),
            sampling=config.do_sample,
            stop_ids=torch.tensor(scored.eos_ids, device=device, dtype=torch.long),
            pad=pad,
            emit=(lambda token: streamer.put(token.cpu())) if streamer is not None else (lambda token: None),
        )
        if streamer is not None:
            streamer.end()
        return torch.stack(tokens, dim=1)
