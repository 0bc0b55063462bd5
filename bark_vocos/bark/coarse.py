"""The optimized coarse stage: drop-in for `BarkCoarseModel.generate` (semantic tokens -> the first two codebooks).

It computes only the rows of its LM head for ids it can choose (not the semantic ids its logits processing masks),
and keeps its key/value cache between its sliding windows, re-reading only the part of the window that changed.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from transformers import BarkCoarseModel
from transformers.models.bark.generation_configuration_bark import (
    BarkCoarseGenerationConfig,
    BarkSemanticGenerationConfig,
)

from .decoder import CausalDecoder
from .logits import AlternatingCodebooks
from .loop import decode_tokens
from .options import decode_config
from .sampling import choose, sampling_warpers

__all__ = ["CoarseStage"]


class CoarseStage:
    """Drop-in for `BarkCoarseModel.generate` (semantic tokens -> first two codebooks, interleaved).

    Args:
        model: the transformers coarse sub-model (read, never modified).
        mode: `"exact"` or `"fast"`.
        semantic_vocab_size: the ids below it are never chosen (the semantic tokens), so their rows of the LM head
            are not computed (see `CausalDecoder`); a `generate` call whose config says otherwise rebuilds the decoder
            for its own. None: the whole head until then.
    """

    def __init__(self, model: BarkCoarseModel, mode: str, semantic_vocab_size: int | None = None):
        self.model = model
        self.mode = mode
        rows = None if semantic_vocab_size is None else self._head_rows(semantic_vocab_size)
        self.decoder = CausalDecoder(model, mode, rows)

    def _head_rows(self, semantic_vocab_size: int) -> tuple[int, int]:
        """The LM head's rows of the ids this stage can choose: every id below the semantic vocabulary's end is masked
        for both codebooks (`AlternatingCodebooks`), the codebooks' ids and those after them are not."""
        return semantic_vocab_size, self.model.config.output_vocab_size

    @torch.no_grad()
    def generate(
        self,
        semantic_output: torch.Tensor,
        semantic_generation_config: BarkSemanticGenerationConfig | None = None,
        coarse_generation_config: BarkCoarseGenerationConfig | None = None,
        codebook_size: int = 1024,
        history_prompt: dict[str, torch.Tensor] | None = None,
        return_output_lengths: bool | None = None,
        **kwargs,
    ) -> torch.LongTensor | tuple[torch.LongTensor, torch.LongTensor]:
        """Coarse tokens for semantic tokens, as `BarkCoarseModel.generate`.

        Like transformers, semantic pad tokens in `semantic_output` are replaced in place by the coarse pad token.

        Args:
            semantic_output: `(B, N)` semantic tokens (output of the semantic stage).
            semantic_generation_config, coarse_generation_config: the stage configs (required).
            codebook_size: entries per codebook (1024).
            history_prompt: optional speaker prompt with `semantic_prompt` and `coarse_prompt` `(2, M)`.
            return_output_lengths: also return the number of valid coarse tokens per sample.
            **kwargs: `streamer` and generation options (`do_sample`, `temperature`, `top_k`, `top_p`); anything
                else runs transformers' method.
        Returns:
            `(B, M)` coarse tokens (two codebooks interleaved, offset by the semantic vocabulary), and with
            `return_output_lengths` also `(B,)` int lengths.
        Raises:
            ValueError: a stage config is missing.
        """
        if semantic_generation_config is None:
            raise ValueError("`semantic_generation_config` has to be provided")
        if coarse_generation_config is None:
            raise ValueError("`coarse_generation_config` has to be provided")
        options = dict(kwargs)
        streamer = options.pop("streamer", None)
        config = decode_config(self.model, coarse_generation_config, options)
        # an EOS or pad token would make transformers stop early or mask the window: leave those cases to it
        if config is None or config.eos_token_id is not None or config.pad_token_id is not None:
            return self.model.generate(
                semantic_output,
                semantic_generation_config=semantic_generation_config,
                coarse_generation_config=coarse_generation_config,
                codebook_size=codebook_size,
                history_prompt=history_prompt,
                return_output_lengths=return_output_lengths,
                **kwargs,
            )
        coarse_output, output_lengths = self._windows(
            semantic_output, semantic_generation_config, config, codebook_size, history_prompt, streamer
        )
        if return_output_lengths:
            return coarse_output, output_lengths
        return coarse_output

    def _windows(
        self,
        semantic_output: torch.Tensor,
        semantic_config: BarkSemanticGenerationConfig,
        config: BarkCoarseGenerationConfig,
        codebook_size: int,
        history_prompt: dict[str, torch.Tensor] | None,
        streamer: object | None,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """`generate`'s sliding windows, with the resolved coarse `config`: `(B, M)` coarse tokens, `(B,)` lengths."""
        model, device = self.model, self.model.device
        max_input, max_history, window = (
            config.max_coarse_input_length,
            config.max_coarse_history,
            config.sliding_window_len,
        )
        semantic_vocab = semantic_config.semantic_vocab_size
        semantic_output.masked_fill_(
            semantic_output == semantic_config.semantic_pad_token, config.coarse_semantic_pad_token
        )
        ratio = config.coarse_rate_hz / semantic_config.semantic_rate_hz * config.n_coarse_codebooks
        max_semantic_history = int(np.floor(max_history / ratio))
        output_lengths = (semantic_output != config.coarse_semantic_pad_token).sum(1)
        output_lengths = torch.floor(output_lengths * ratio / config.n_coarse_codebooks)
        output_lengths = torch.round(output_lengths * config.n_coarse_codebooks).int()
        max_generated = int(torch.max(output_lengths).item())
        batch = semantic_output.shape[0]
        semantic_history, coarse = model.preprocess_histories(
            history_prompt=history_prompt,
            max_coarse_history=max_history,
            semantic_to_coarse_ratio=ratio,
            batch_size=batch,
            semantic_generation_config=semantic_config,
            codebook_size=codebook_size,
        )
        base_semantic_idx = semantic_history.shape[1]
        semantic_output = torch.hstack([semantic_history, semantic_output])
        history_len = coarse.shape[1]
        scored = AlternatingCodebooks(model.config.output_vocab_size, semantic_vocab, codebook_size, device)
        warpers = sampling_warpers(config)
        infer = torch.full((batch, 1), config.coarse_infer_token, dtype=semantic_output.dtype, device=device)
        head_rows = self._head_rows(semantic_vocab)
        if self.decoder.head_rows != head_rows:
            self.decoder = CausalDecoder(model, self.mode, head_rows)
        self.decoder.allocate(batch, max_input + 1 + max_history + window)
        generated = 0
        for _ in range(int(np.ceil(max_generated / window))):
            semantic_idx = base_semantic_idx + int(round(generated / ratio))
            window_input = semantic_output[:, max(0, semantic_idx - max_semantic_history) :][:, :max_input]
            window_input = F.pad(
                window_input, (0, max_input - window_input.shape[-1]), "constant", config.coarse_semantic_pad_token
            )
            window_input = torch.hstack([window_input, infer, coarse[:, -max_history:].to(window_input.dtype)])
            if streamer is not None:
                streamer.put(window_input.cpu())
            tokens = decode_tokens(
                self.decoder,
                self.decoder.feed_ids(window_input.long()),
                min(window, max_generated - generated),
                lambda step, logits, draw: choose(scored(step, logits), config, warpers, draw),
                sampling=config.do_sample,
                emit=(lambda token: streamer.put(token.cpu())) if streamer is not None else (lambda token: None),
            )
            if streamer is not None:
                streamer.end()
            coarse = torch.hstack([coarse, torch.stack(tokens, dim=1).to(coarse.dtype)])
            generated = coarse.shape[1] - history_len
        return coarse[:, history_len:], output_lengths
