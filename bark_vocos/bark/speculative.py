"""Speculative decoding for the exact engine: an 8-bit ONNX Runtime step drafts tokens, the float32 step verifies
them in one pass and keeps the tokens a plain step would choose.

A float32 step reads all of a stage's weights for one token, an 8-bit step a quarter of that. The 8-bit step drafts
`d` tokens one by one, reading the float32 keys/values of the tokens already chosen (and writing its own for the
drafts, which the verification overwrites); the float32 step then reads the last chosen token and the drafts in one
pass (`d + 1` positions, one read of the weights) and chooses from each position's logits exactly as a plain step
would, with the same sampling draw (`sampling.Draws`). Drafts are kept up to the first token chosen differently;
that token, or one more after all `d`, ends the round. The tokens (and the RNG state) are those of plain steps
whatever the drafts; only the number of float32 passes changes. `d` per round is measured (`draft_count`).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import torch

from ..settings import VARIABLES, settings
from .sampling import Draws

__all__ = ["DRAFT_CHOICES", "DRAFT_TOKENS_VARIABLE", "EXPLORE_ROUNDS", "draft_count", "speculate"]

# The counts of draft tokens per round chosen from by timing (0: plain steps), the rounds each is first timed for,
# and the variable that forces a count (0: off).
DRAFT_CHOICES = (0, 2, 4)
EXPLORE_ROUNDS = 8
DRAFT_TOKENS_VARIABLE = VARIABLES["draft_tokens"][0]

Choose = Callable[[int, torch.Tensor, torch.Tensor | None], torch.Tensor]


def draft_count(round_times: dict[tuple[int, int], list]) -> int:
    """Draft tokens for the next round: the `draft_tokens` pin (`bark_vocos.settings`) if set, else the count in
    `DRAFT_CHOICES` with the lowest measured time per chosen token, each first run for `EXPLORE_ROUNDS` rounds (per
    torch thread count; the first round of each is a warm-up, not timed).

    Args:
        round_times: `(threads, drafts) -> [seconds, tokens, rounds]` measured so far.
    """
    forced = settings().draft_tokens
    if forced is not None:
        return forced
    threads = torch.get_num_threads()
    per_token = {}
    for drafts in DRAFT_CHOICES:
        seconds, tokens, rounds = round_times.get((threads, drafts), (0.0, 0, 0))
        if rounds < EXPLORE_ROUNDS:
            return drafts
        per_token[drafts] = seconds / tokens
    return min(per_token, key=per_token.get)


def _round(
    decoder: Any,
    token: torch.Tensor,
    position: int,
    room: int,
    choose: Choose,
    step: int,
    draws: Draws,
    stop: Callable[[torch.Tensor], bool],
) -> tuple[list[torch.Tensor], list[torch.Tensor], int]:
    """One round from `token` (chosen, to be fed at `position`): at most `room` drafts, then their verification up
    to the first token chosen differently from its draft, or one that `stop`s the sequence.

    Returns:
        The tokens chosen by the float32 logits (1 to drafts + 1), the drafts, and the draft count asked for.
    """
    wanted = decoder.draft_count()
    drafts = []
    last = token
    for index in range(min(wanted, room)):
        draft_logits = decoder.onnx_forward(last[:, None], position + index, decoder.draft_step)[:, -1]
        last = choose(step + index, draft_logits, draws.get(index))
        drafts.append(last)
    verified = decoder.onnx_forward(torch.stack([token, *drafts], dim=1), position)
    chosen = []
    for index in range(len(drafts) + 1):
        chosen.append(choose(step + index, verified[:, index], draws.get(index)))
        if stop(chosen[-1]) or index == len(drafts) or not torch.equal(chosen[-1], drafts[index]):
            break
    return chosen, drafts, wanted


def speculate(
    decoder: Any,
    logits: torch.Tensor,
    count: int,
    choose: Choose,
    sampling: bool,
    stop: Callable[[torch.Tensor], bool],
    emit: Callable[[torch.Tensor], None],
) -> tuple[list[torch.Tensor], torch.Tensor]:
    """Up to `count` tokens of one sequence, the same as token-by-token decoding, fewer float32 passes.

    Args:
        decoder: a `decoder.CausalDecoder` that `can_speculate(1)`, holding `decoder.length` positions.
        logits: `(1, V)` float32 logits of the first token to choose (from the prompt).
        count: tokens to choose (>= 1).
        choose: `(step, (1, V) logits, draw or None) -> (1,)` token, for step 0, 1, ... of this call: the stage's
            logits processing then `sampling.choose` with the draw.
        sampling: whether `choose` samples (draws are then made by `sampling.Draws`).
        stop: whether a chosen token ends the sequence (it is kept).
        emit: called with each chosen token, in order.
    Returns:
        The chosen tokens (each `(1,)`), and `(1, n)` the ids fed to the cache (all chosen tokens but the last), at
        positions `[decoder.length, decoder.length + n)`.
    """
    start = decoder.length
    draws = Draws(tuple(logits.shape), sampling)
    try:
        token = choose(0, logits, draws.get(0))
        draws.use(1)
        tokens, fed = [token], []
        emit(token)
        while len(tokens) < count and not stop(token):
            started = time.perf_counter()
            room = count - len(tokens) - 1
            position = start + len(fed)  # where `token` goes
            chosen, drafts, wanted = _round(decoder, token, position, room, choose, len(tokens), draws, stop)
            for each in chosen:
                tokens.append(each)
                emit(each)
            used = len(chosen)
            draws.use(used)
            fed += [token, *drafts[: used - 1]]
            token = tokens[-1]
            totals = decoder.round_times.setdefault((torch.get_num_threads(), wanted), [0.0, 0, 0])
            if totals[2] > 0:  # the first round builds sessions and buffers: a warm-up
                totals[0] += time.perf_counter() - started
                totals[1] += used
            totals[2] += 1
    finally:  # on an error too: no draw made ahead is left taken
        draws.give_back()
    fed_ids = torch.stack(fed, dim=1) if fed else torch.empty(1, 0, dtype=torch.long, device=logits.device)
    return tokens, fed_ids
