"""The logits processing of Bark's causal stages, as transformers' Bark applies it: per token `step`, `(B, V)` logits
-> `(B, V)` scores."""

from __future__ import annotations

from typing import Any

import torch

__all__ = ["AlternatingCodebooks", "SemanticScores", "eos_ids"]


def eos_ids(config: Any) -> list[int]:
    """The end-of-sequence ids of a generation config (none, one or several)."""
    eos = config.eos_token_id
    return [eos] if isinstance(eos, int) else list(eos or [])


class SemanticScores:
    """transformers' semantic logits processors: EOS held back for `min_new_tokens`, ids outside the semantic
    vocabulary (but the pad token, which is the EOS) suppressed, and EOS forced once its probability passes
    `min_eos_p`.

    Args:
        config: the resolved semantic generation config.
        vocab: the model's output vocabulary size.
        min_eos_p: the EOS probability that ends the sequence (None or 0: not used).
        device: where the logits are.
    """

    def __init__(self, config: Any, vocab: int, min_eos_p: float | None, device: torch.device):
        self.suppress = torch.zeros(vocab, dtype=torch.bool, device=device)
        self.suppress[config.semantic_vocab_size : config.semantic_pad_token] = True
        self.suppress[config.semantic_pad_token + 1 :] = True
        self.eos_ids = eos_ids(config)
        self.min_new = config.min_new_tokens or 0
        self.min_eos_p = min_eos_p

    def __call__(self, step: int, logits: torch.Tensor) -> torch.Tensor:
        """The scores of token `step`: `(B, V)` -> `(B, V)`."""
        scores = logits
        eos = self.eos_ids
        if step < self.min_new and eos:
            scores = scores.clone()
            scores[:, eos] = -float("inf")
        scores = scores.masked_fill(self.suppress, -float("inf"))
        if self.min_eos_p:
            probs = torch.softmax(scores.float(), dim=-1)
            early = torch.full_like(scores, -float("inf"))
            early[:, eos] = scores[:, eos]
            stop = (probs[:, eos] > self.min_eos_p).any(dim=1, keepdim=True)
            scores = torch.where(stop, early, scores)
        return scores


class AlternatingCodebooks:
    """transformers' `AlternatingCodebooksLogitsProcessor` for the coarse stage: even steps of a window choose from the
    first codebook's ids, odd steps from the second's.

    Args:
        vocab: the model's output vocabulary size.
        semantic_vocab: ids below it are semantic tokens, never chosen.
        codebook_size: entries per codebook.
        device: where the logits are.
    """

    def __init__(self, vocab: int, semantic_vocab: int, codebook_size: int, device: torch.device):
        self.not_first = torch.ones(vocab, dtype=torch.bool, device=device)
        self.not_first[semantic_vocab : semantic_vocab + codebook_size] = False
        self.not_second = torch.zeros(vocab, dtype=torch.bool, device=device)
        self.not_second[: semantic_vocab + codebook_size] = True

    def __call__(self, step: int, logits: torch.Tensor) -> torch.Tensor:
        """The scores of token `step` of a window: `(B, V)` -> `(B, V)`."""
        return logits.masked_fill(self.not_first if step % 2 == 0 else self.not_second, -float("inf"))
