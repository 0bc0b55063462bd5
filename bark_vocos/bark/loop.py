"""The one decode loop of Bark's causal stages (semantic, coarse): plain steps, or speculative rounds where they
apply; the tokens are the same either way."""

from __future__ import annotations

from collections.abc import Callable

import torch

from .decoder import CausalDecoder

__all__ = ["decode_tokens"]


def decode_tokens(
    decoder: CausalDecoder,
    logits: torch.Tensor,
    count: int,
    choose: Callable[[int, torch.Tensor, torch.Tensor | None], torch.Tensor],
    sampling: bool,
    stop_ids: torch.Tensor | None = None,
    pad: int | None = None,
    emit: Callable[[torch.Tensor], None] = lambda token: None,
) -> list[torch.Tensor]:
    """Up to `count` tokens after a prompt whose last logits are `logits` `(B, V)`, the prompt in `decoder`'s cache.

    Args:
        decoder: holds the prompt; each chosen token but the last is fed to it.
        count: tokens to choose.
        choose: `(step, (B, V) logits, draw or None) -> (B,)` tokens: the stage's logits processing and sampling.
        sampling: whether `choose` samples (speculative rounds then draw ahead, see `sampling.Draws`).
        stop_ids: `(E,)` ids that end a sequence (kept); the loop ends when every sequence has ended.
        pad: the id chosen for a sequence after it ended (None: no padding).
        emit: called with each chosen `(B,)` token, in order (a streamer's `put`).
    Returns:
        The chosen tokens, each `(B,)`.
    """
    batch = logits.shape[0]
    stopping = stop_ids is not None and stop_ids.numel() > 0
    if decoder.can_speculate(batch):
        stop = (lambda token: bool(torch.isin(token, stop_ids).any())) if stopping else (lambda token: False)
        return decoder.speculate(logits, count, choose, sampling, stop, emit)
    tokens = []
    unfinished = torch.ones(batch, dtype=torch.bool, device=logits.device)
    for step in range(count):
        token = choose(step, logits, None)
        if pad is not None:
            token = torch.where(unfinished, token, torch.full_like(token, pad))
        tokens.append(token)
        emit(token)
        if stopping:
            unfinished &= ~torch.isin(token, stop_ids)
            if not bool(unfinished.any()):
                break
        if step + 1 < count:
            logits = decoder.feed_token(token)
    return tokens
