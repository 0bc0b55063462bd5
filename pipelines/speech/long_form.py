"""Long-form text: plan the chunks Bark speaks one generation each, schedule them in batches, and join their audio
with pauses.

A text is tokenized once; if it fits `max_chunk_tokens` it is one chunk, otherwise the sentence splitter
(`pipelines.speech.sentences`) cuts it and packs the sentences into chunks, each tokenized once more for Bark. The
chunks of all texts are generated in the order of `schedule_batches`; their audio is joined by `PauseInserter`, which
works on the whole audio at once (`pipe(...)`) or on pieces as they are decoded (`pipe.stream(...)`) with the same
result.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from .sentences import chunk_text

__all__ = [
    "FADE_SECONDS",
    "Chunk",
    "PauseInserter",
    "join_with_pauses",
    "plan_chunks",
    "plan_texts",
    "schedule_batches",
]

FADE_SECONDS = 0.01  # raised-cosine fade on each side of an inserted pause, so the cut makes no click


@dataclass
class Chunk:
    """One Bark generation's worth of text.

    Attributes:
        text_index: Which input text it belongs to.
        index: Its position among that text's chunks.
        text: The chunk's text.
        input_ids: Its Bark tokenizer ids (no special tokens), at most Bark's input limit.
        last: Whether it is the text's last chunk.
    """

    text_index: int
    index: int
    text: str
    input_ids: list[int]
    last: bool


def plan_chunks(
    text_index: int,
    text: str,
    tokenize: Callable[[str], list[int]],
    max_chunk_tokens: int,
    first_chunk_tokens: int | None = None,
) -> list[Chunk]:
    """The chunks of one text: the whole text when it fits `max_chunk_tokens`, else sentences packed into chunks.

    Args:
        text_index: Index of the text among the call's texts.
        text: The text (already checked to be non-empty).
        tokenize: Text -> Bark tokenizer ids (no special tokens).
        max_chunk_tokens: Token budget of a chunk.
        first_chunk_tokens: A smaller budget for the first chunk only (a short first chunk starts a stream sooner);
            `None`: the same budget for every chunk.
    """
    text = text.strip()
    ids = tokenize(text)
    first_budget = max_chunk_tokens if first_chunk_tokens is None else min(first_chunk_tokens, max_chunk_tokens)
    if len(ids) <= first_budget:
        return [Chunk(text_index, 0, text, ids, last=True)]

    def count(piece: str) -> int:
        return len(tokenize(piece))

    texts = chunk_text(text, count, first_budget)
    if first_budget != max_chunk_tokens and len(texts) > 1:
        texts = texts[:1] + chunk_text(" ".join(texts[1:]), count, max_chunk_tokens)
    return [Chunk(text_index, i, piece, tokenize(piece), last=i == len(texts) - 1) for i, piece in enumerate(texts)]


def plan_texts(
    texts: list[str],
    tokenize: Callable[[str], list[int]],
    max_input_tokens: int,
    long_form: bool,
    max_chunk_tokens: int,
    first_chunk_tokens: int | None,
) -> list[list[Chunk]]:
    """Each text's chunks (see `plan_chunks`); without `long_form` each text is one chunk of Bark's whole budget.

    Raises:
        ValueError: Without `long_form`, a text over `max_input_tokens` tokens (naming its length and the limit).
    """
    budget, first = (max_chunk_tokens, first_chunk_tokens) if long_form else (max_input_tokens, None)
    chunks = [plan_chunks(i, text, tokenize, budget, first) for i, text in enumerate(texts)]
    if not long_form and any(len(text_chunks) > 1 for text_chunks in chunks):
        longest = max(len(tokenize(text)) for text in texts)
        raise ValueError(f"text has {longest} tokens but Bark reads at most {max_input_tokens}: use long_form=True")
    return chunks


def schedule_batches(chunks: list[Chunk], batch_size: int, prompt_with_previous: bool) -> list[list[Chunk]]:
    """The order in which chunks are generated, as batches.

    Chunks prompted with the previous chunk's tokens run one at a time. Otherwise they run in batches of
    `batch_size`, except that the first chunk of a long-form text runs alone, so its audio is ready after one
    chunk's generation (what `pipe.stream` needs; `pipe(...)` uses the same order, so both give the same tokens for
    a seed).
    """
    if prompt_with_previous:
        return [[chunk] for chunk in chunks]
    head = chunks[:1] if len(chunks) > 1 and not chunks[0].last else []
    rest = chunks[len(head) :]
    batches = [rest[start : start + batch_size] for start in range(0, len(rest), batch_size)]
    return ([head] if head else []) + batches


class PauseInserter:
    """Inserts `pause` samples of silence at the joins between chunks' audio, with a fade on both sides of each cut.

    Register each chunk's length (in samples) in order with `add_piece`, then `feed` the joined audio in any slices,
    in order; the concatenated outputs do not depend on how the audio was sliced. A piece's samples may be fed once
    that piece is registered. With `pause == 0` the audio passes unchanged (one decode across the joins, no fades).

    Args:
        pause: Samples of silence at each join.
        fade: Samples of the raised-cosine fade on each side of a join (shorter pieces get shorter fades).
    """

    def __init__(self, pause: int, fade: int):
        self.pause = pause
        self.fade = fade
        self.fade_in = np.hanning(2 * fade + 1)[:fade].astype(np.float32)  # the symmetric Hann window
        self.pieces: list[tuple[int, int, bool]] = []  # (start, length, last) in unpaused samples
        self.position = 0  # unpaused samples fed so far
        self.piece = 0  # index of the piece `position` is in

    def add_piece(self, length: int, last: bool) -> None:
        """Register the next piece: `length` samples, `last` when no join follows it."""
        start = sum(length for _, length, _ in self.pieces)
        self.pieces.append((start, length, last))

    def feed(self, audio: np.ndarray) -> np.ndarray:
        """The paused output for the next `audio` samples `(n,)` of the joined audio."""
        if self.pause == 0:
            self.position += audio.shape[0]
            return audio
        out = []
        used = 0
        while self.piece < len(self.pieces):
            start, length, last = self.pieces[self.piece]
            take = min(audio.shape[0] - used, start + length - self.position)
            if take > 0:
                segment = audio[used : used + take].copy()
                local = np.arange(self.position - start, self.position - start + take)
                n = min(self.fade, length)
                if self.piece > 0:
                    head = local < n
                    segment[head] *= self.fade_in[local[head]]
                if not last:
                    remaining = length - local
                    tail = remaining <= n
                    segment[tail] *= self.fade_in[remaining[tail] - 1]
                out.append(segment)
                used += take
                self.position += take
            if self.position < start + length or last:
                break
            out.append(np.zeros(self.pause, dtype=np.float32))  # the piece is complete and a join follows
            self.piece += 1
        if used != audio.shape[0]:
            raise ValueError(f"fed {audio.shape[0] - used} samples past the registered pieces")
        return np.concatenate(out) if out else audio[:0]


def join_with_pauses(audio: np.ndarray, pieces: list[tuple[int, bool]], hop: int, pauses: PauseInserter) -> np.ndarray:
    """One text's decoded audio `(frames * hop,)` with `pauses` inserted at the joins of its chunks.

    Args:
        audio: The text's chunks decoded in one pass.
        pieces: `(frames, last)` of each chunk, in order.
        hop: Samples per frame.
        pauses: A fresh `PauseInserter`.

    Raises:
        RuntimeError: The audio's length is not the chunks' frames times `hop` (a decoder gave the wrong length).
    """
    frames = sum(piece_frames for piece_frames, _ in pieces)
    if audio.shape[0] != frames * hop:
        raise RuntimeError(f"the decoder gave {audio.shape[0]} samples for {frames} frames")
    for piece_frames, last in pieces:
        pauses.add_piece(piece_frames * hop, last)
    return pauses.feed(audio.astype(np.float32, copy=False))
