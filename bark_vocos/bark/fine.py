"""The optimized fine stage: drop-in for `BarkFineModel.generate` (coarse tokens -> all eight codebooks), one
codebook per non-causal pass over each window."""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from transformers import BarkFineModel
from transformers.models.bark.generation_configuration_bark import (
    BarkCoarseGenerationConfig,
    BarkFineGenerationConfig,
    BarkSemanticGenerationConfig,
)

from ..residency import release_file_pages
from ..timing import untimed
from ..tuning import rounded_weight_folder
from .block import BlockLinears, block_forward, project, uses_int8
from .int8 import Int8Linear
from .orchestration import coarse_codes
from .rounding import RoundedWeights

__all__ = ["FineStage"]


class FineStage:
    """Drop-in for `BarkFineModel.generate` (coarse tokens -> all eight codebooks).

    Args:
        model: the transformers fine sub-model (read, never modified).
        mode: `"exact"` or `"fast"` (int8 linear layers on the CPU, and one window over the frames that exist when
            they fit in one, instead of a window padded to `max_fine_input_length`; the model's float32 pages are
            then let go of, `bark_vocos.residency`, and read in again only where still used).
    """

    def __init__(self, model: BarkFineModel, mode: str):
        self.model = model
        self.mode = mode
        int8 = uses_int8(mode, model)
        rounded = RoundedWeights(rounded_weight_folder()) if int8 else None
        self.linears = [BlockLinears(block, int8, rounded) for block in model.layers]
        self.lm_heads = [Int8Linear(head, rounded) if int8 else head for head in model.lm_heads]
        if int8:  # the int8 copies are made: the float32 weights' file pages need not stay resident
            release_file_pages(model.parameters())
        self.timer = untimed  # a hook for benchmarks: `timer("passes")` around each codebook's pass over a window

    def logits(self, codebook_idx: int, input_ids: torch.Tensor) -> torch.Tensor:
        """Logits of codebook `codebook_idx` for every position, as `BarkFineModel.forward(...).logits`.

        Args:
            codebook_idx: codebook to predict (>= `n_codes_given`).
            input_ids: `(B, T, n_codes_total)` codes; codebooks `<= codebook_idx` are read.
        Returns:
            `(B, T, V)` logits.
        """
        model = self.model
        embeds = torch.cat(
            [layer(input_ids[:, :, i]).unsqueeze(-1) for i, layer in enumerate(model.input_embeds_layers)], dim=-1
        )
        hidden = embeds[:, :, :, : codebook_idx + 1].sum(dim=-1)
        positions = torch.arange(hidden.shape[1], device=hidden.device)
        hidden = hidden + model.position_embeds_layer(positions)[None]
        for block, linears in zip(model.layers, self.linears, strict=True):
            hidden = block_forward(block, linears, hidden, None, None, 0, causal=False)
        hidden = model.layernorm_final(hidden)
        return project(self.lm_heads[codebook_idx - model.config.n_codes_given], hidden)

    def _fill_window(
        self,
        buffer: torch.Tensor,
        rel_fill: int,
        n_coarse: int,
        n_fine: int,
        temperature: float | None,
        codebook_size: int,
    ) -> None:
        """Predict codebooks `[n_coarse, n_fine)` of `buffer` from position `rel_fill` on, one codebook per pass.

        Args:
            buffer: `(B, W, n_fine)` codes of one window, modified in place; positions before `rel_fill` are context.
            rel_fill: first position to predict.
            temperature: None or 1.0: argmax (as transformers); otherwise sampling at that temperature.
        """
        batch = buffer.shape[0]
        for n_inner in range(n_coarse, n_fine):
            with self.timer("passes"):
                logits = self.logits(n_inner, buffer)
            if temperature is None or temperature == 1.0:
                preds = torch.argmax(logits[:, rel_fill:, :codebook_size], -1)
            else:
                probs = F.softmax(logits[:, :, :codebook_size] / temperature, dim=-1)[:, rel_fill:]
                preds = torch.multinomial(probs.reshape(-1, codebook_size), num_samples=1).view(batch, -1)
            buffer[:, rel_fill:, n_inner] = preds.to(buffer.dtype)

    @torch.no_grad()
    def generate(
        self,
        coarse_output: torch.Tensor,
        semantic_generation_config: BarkSemanticGenerationConfig | None = None,
        coarse_generation_config: BarkCoarseGenerationConfig | None = None,
        fine_generation_config: BarkFineGenerationConfig = None,
        codebook_size: int = 1024,
        history_prompt: dict[str, torch.Tensor] | None = None,
        **kwargs,
    ) -> torch.LongTensor:
        """All codebooks for coarse tokens, as `BarkFineModel.generate`.

        Args:
            coarse_output: `(B, M)` coarse tokens (output of the coarse stage).
            semantic_generation_config, coarse_generation_config, fine_generation_config: stage configs (required).
            codebook_size: entries per codebook (1024).
            history_prompt: optional speaker prompt with `fine_prompt` `(n_fine_codebooks, K)`.
            **kwargs: `temperature` (None or 1.0: argmax, as transformers).
        Returns:
            `(B, n_fine_codebooks, M / n_coarse_codebooks)` codes in `[0, codebook_size)`.
        """
        if semantic_generation_config is None:
            raise ValueError("`semantic_generation_config` has to be provided")
        if coarse_generation_config is None:
            raise ValueError("`coarse_generation_config` has to be provided")
        if fine_generation_config is None:
            raise ValueError("`fine_generation_config` has to be provided")
        temperature = kwargs.get("temperature", fine_generation_config.temperature)
        history_len = fine_generation_config.max_fine_history_length
        input_len = fine_generation_config.max_fine_input_length
        n_fine = fine_generation_config.n_fine_codebooks
        n_coarse = coarse_generation_config.n_coarse_codebooks

        vocab = semantic_generation_config.semantic_vocab_size
        coarse_output = coarse_codes(coarse_output, n_coarse, vocab, codebook_size).transpose(1, 2)  # (B, T, n_coarse)
        batch = coarse_output.shape[0]
        fine_input = F.pad(coarse_output, (0, n_fine - n_coarse), "constant", codebook_size)
        n_history = 0
        if history_prompt is not None:
            fine_history = history_prompt["fine_prompt"].T[None].expand(batch, -1, -1)[:, -history_len:, :]
            fine_input = torch.cat([fine_history.to(fine_input.dtype), fine_input], dim=1)
            n_history = fine_history.shape[1]
        n_remove_from_end = 0
        if self.mode == "fast" and fine_input.shape[1] <= input_len:
            # one window over the frames that exist, no padding (see the module docstring)
            self._fill_window(fine_input, n_history, n_coarse, n_fine, temperature, codebook_size)
        else:
            if fine_input.shape[1] < input_len:
                n_remove_from_end = input_len - fine_input.shape[1]
                fine_input = F.pad(fine_input, (0, 0, 0, n_remove_from_end), mode="constant", value=codebook_size)
            n_loops = max(0, int(np.ceil((coarse_output.shape[1] - (input_len - n_history)) / history_len))) + 1
            for n_outer in range(n_loops):
                start = min(n_outer * history_len, fine_input.shape[1] - input_len)
                start_fill = min(n_history + n_outer * history_len, fine_input.shape[1] - history_len)
                rel_fill = start_fill - start
                buffer = fine_input[:, start : start + input_len, :]
                self._fill_window(buffer, rel_fill, n_coarse, n_fine, temperature, codebook_size)
                fine_input[:, start_fill : start_fill + (input_len - rel_fill), n_coarse:] = buffer[
                    :, rel_fill:, n_coarse:
                ]

        fine_input = fine_input.transpose(1, 2)[:, :, n_history:]
        if n_remove_from_end > 0:
            fine_input = fine_input[:, :, :-n_remove_from_end]
        if fine_input.shape[-1] != coarse_output.shape[-2]:
            raise ValueError("input and output should have the same seq_len")
        return fine_input
