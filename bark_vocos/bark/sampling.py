"""Choosing the next token from processed scores (greedy or sampled) and replaying `torch.multinomial`'s draws."""

from __future__ import annotations

import functools
from typing import Any

import torch
from transformers.generation.logits_process import TemperatureLogitsWarper, TopKLogitsWarper, TopPLogitsWarper

__all__ = ["Draws", "choose", "multinomial_replays", "sampling_warpers"]


def sampling_warpers(config: Any) -> list:
    """transformers' sampling warpers for `config`, in the order `GenerationMixin` applies them."""
    if not config.do_sample:
        return []
    warpers = []
    if config.temperature is not None and config.temperature != 1.0:
        warpers.append(TemperatureLogitsWarper(config.temperature))
    if config.top_k is not None and config.top_k != 0:
        warpers.append(TopKLogitsWarper(top_k=config.top_k, min_tokens_to_keep=1))
    if config.top_p is not None and config.top_p < 1.0:
        warpers.append(TopPLogitsWarper(top_p=config.top_p, min_tokens_to_keep=1))
    return warpers


def choose(scores: torch.Tensor, config: Any, warpers: list, draw: torch.Tensor | None = None) -> torch.Tensor:
    """Next tokens from processed scores: greedy argmax, or sampling after the warpers.

    Args:
        scores: `(B, V)` float32 scores after the stage's logits processors.
        config: the resolved generation config (`do_sample`, `renormalize_logits` are read).
        warpers: `sampling_warpers(config)`.
        draw: when sampling, the `(B, V)` exponential draw `torch.multinomial` would make (`Draws`), or None to
            call `torch.multinomial`.
    Returns:
        `(B,)` int64 token ids.
    """
    for warper in warpers:
        scores = warper(None, scores)
    if config.renormalize_logits:
        scores = torch.log_softmax(scores, dim=-1)
    if not config.do_sample:
        return torch.argmax(scores, dim=-1)
    probs = torch.softmax(scores, dim=-1)
    if draw is not None:
        return torch.argmax(probs / draw, dim=-1)
    return torch.multinomial(probs, num_samples=1).squeeze(1)


@functools.cache
def multinomial_replays() -> bool:
    """Whether `torch.multinomial(probs, 1)` returns `argmax(probs / q)` for `q = empty_like(probs).exponential_()`
    drawn from the same generator state (it does in torch 2.x on the CPU: one `(B, V)` draw per call, whatever the
    probabilities). Speculative decoding relies on it; it is checked once on this torch, leaving the RNG as it was."""
    state = torch.get_rng_state()
    try:
        for seed in range(4):
            generator = torch.Generator().manual_seed(seed)
            probs = torch.softmax(torch.randn(3, 257, generator=generator) * (seed + 1), dim=-1)
            probs[:, 200:] = 0.0
            torch.manual_seed(seed)
            expected = torch.multinomial(probs, num_samples=1).squeeze(1)
            torch.manual_seed(seed)
            replayed = torch.argmax(probs / torch.empty_like(probs).exponential_(), dim=-1)
            if not torch.equal(expected, replayed):
                return False
        return True
    finally:
        torch.set_rng_state(state)


class Draws:
    """The sampling draws of a decode loop, made ahead of the tokens that use them and given back when unused.

    `torch.multinomial(probs, 1)` draws `q = empty_like(probs).exponential_()` from the global generator and returns
    `argmax(probs / q)` (`multinomial_replays`). Speculative decoding chooses several tokens from one verification,
    so it draws their `q` ahead, in the order the tokens would draw them; `give_back` restores the generator to its
    state before the first draw not used, so that the generator ends where token-by-token sampling leaves it.

    Args:
        shape: `(B, V)` of the probabilities.
        sampling: whether the loop samples (otherwise there are no draws and `get` returns None).
    """

    def __init__(self, shape: tuple[int, int], sampling: bool):
        self.shape = shape
        self.sampling = sampling
        self.ahead: list[tuple[torch.Tensor, torch.Tensor]] = []  # (generator state before the draw, the draw)

    def get(self, index: int) -> torch.Tensor | None:
        """The draw of the `index`-th token from now (drawn now if not drawn yet), or None when not sampling."""
        if not self.sampling:
            return None
        while len(self.ahead) <= index:
            state = torch.get_rng_state()
            self.ahead.append((state, torch.empty(self.shape, dtype=torch.float32).exponential_()))
        return self.ahead[index][1]

    def use(self, count: int) -> None:
        """The next `count` draws were used by chosen tokens."""
        del self.ahead[:count]

    def give_back(self) -> None:
        """Undo the draws not used (see the class docstring)."""
        if self.ahead:
            torch.set_rng_state(self.ahead[0][0])
            self.ahead = []
