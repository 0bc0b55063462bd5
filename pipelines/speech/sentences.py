"""The one sentence splitter of bark-vocos, and the packing of sentences into chunks Bark can speak in one generation.

Written here rather than taken from nltk/spaCy/pysbd because those need downloaded models or add a heavy dependency
for a few rules; these rules cover what long-form speech needs: abbreviations, initials, decimal numbers, ellipses,
closing quotes, and the sentence ends of CJK, Indic, Arabic, Armenian and Ethiopic scripts.
"""

from __future__ import annotations

import re
from collections.abc import Callable

__all__ = ["chunk_text", "split_sentences"]

# Always followed by a name or number, never the end of a sentence.
_TITLES = frozenset(
    "mr mrs ms dr prof st sr jr rev gen col lt sgt capt hon mt ft vs fig figs vol pp approx cf ca dept est".split()
)
# Abbreviations that may also end a sentence: a boundary only when the next word starts like a sentence.
_ABBREVIATIONS = frozenset(
    "etc e.g i.e a.m p.m u.s u.k u.s.a inc ltd co corp jan feb mar apr jun jul aug sep sept oct nov dec no al".split()
)
# Sentence ends that need no space after them (CJK full stops, Indic danda, Arabic/Urdu, Armenian, Ethiopic).
_STRONG_ENDS = "。！？｡︒﹒﹗﹖।॥؟۔։።፧"
_CLOSERS = "\"'”’»)]}」』】〉》）"

# a run of end marks, then closing quotes/brackets; Latin marks must be followed by whitespace or the end of text
_CANDIDATE = re.compile(rf"(?P<mark>[.!?…]+|[{_STRONG_ENDS}]+)(?P<close>[{re.escape(_CLOSERS)}]*)(?P<space>\s+|$)?")
_PARAGRAPH = re.compile(r"\n\s*\n")
_CLAUSE_MARKS = ",;:、，；：—"
_WORD = re.compile(r"[\u3040-\u30ff\u3400-\u9fff\uac00-\ud7af\uf900-\ufaff]|[^\s\u3040-\u30ff\u3400-\u9fff]+\s*")


def _starts_sentence(rest: str) -> bool:
    """Whether the text after a period looks like a new sentence (not a lower-case word or a digit)."""
    rest = rest.lstrip().lstrip(_CLOSERS + "\"'“‘«(¿¡")
    return bool(rest) and not (rest[0].islower() or rest[0].isdigit())


def _is_boundary(text: str, match: re.Match) -> bool:
    mark, after = match.group("mark"), text[match.end() :]
    if any(c in _STRONG_ENDS for c in mark):
        return True
    if match.group("space") is None:  # "3.14", "e.g.x", "U.S.A": no space after the mark
        return False
    if "!" in mark or "?" in mark:
        return True
    if not after.strip():
        return True
    if mark != ".":  # "...", "…": a pause unless a new sentence follows
        return _starts_sentence(after)
    word = text[: match.start()].split()[-1] if text[: match.start()].split() else ""
    word = word.lstrip("\"'“‘«(").lower()
    if word in _TITLES:
        return False
    if len(word) == 1 and word.isalpha():  # an initial: "J. R. R. Tolkien"
        return False
    if word in _ABBREVIATIONS or "." in word:
        return _starts_sentence(after)
    return True


def split_sentences(text: str) -> list[str]:
    """Split text into sentences, keeping each sentence's own punctuation and closing quotes.

    Blank lines always end a sentence. A period ends one unless it belongs to a title ("Dr."), an initial ("J."),
    a number ("3.14") or an abbreviation followed by a lower-case word ("e.g. this"); "..." ends one only before a
    new sentence. CJK and other scripts' full stops end a sentence without a following space.

    Args:
        text: Any text.

    Returns:
        Non-empty stripped sentences, in order; `[]` for blank text.
    """
    sentences: list[str] = []
    for paragraph in _PARAGRAPH.split(text):
        start = 0
        for match in _CANDIDATE.finditer(paragraph):
            if _is_boundary(paragraph, match):
                end = match.end("close")
                sentences.append(paragraph[start:end])
                start = end
        sentences.append(paragraph[start:])
    return [" ".join(s.split()) for s in sentences if s.strip()]


def _pack(pieces: list[str], count_tokens: Callable[[str], int], max_tokens: int) -> list[str]:
    """Greedily concatenate pieces (each carrying its own trailing space) into chunks of at most `max_tokens` tokens."""
    chunks: list[str] = []
    current = ""
    for piece in pieces:
        if current.strip() and count_tokens((current + piece).strip()) > max_tokens:
            chunks.append(current.strip())
            current = piece
        else:
            current += piece
    if current.strip():
        chunks.append(current.strip())
    return chunks


def _pieces_of_long_sentence(sentence: str, count_tokens: Callable[[str], int], max_tokens: int) -> list[str]:
    """Pieces of an over-long sentence, each under `max_tokens`: whole clauses where they fit, else words/characters."""
    words = _WORD.findall(sentence + " ")
    clauses: list[list[str]] = [[]]
    for word in words:
        clauses[-1].append(word)
        if word.rstrip()[-1:] in _CLAUSE_MARKS:
            clauses.append([])
    pieces: list[str] = []
    for clause in clauses:
        text = "".join(clause)
        if text.strip() and count_tokens(text.strip()) <= max_tokens:
            pieces.append(text)
        else:
            pieces.extend(clause)
    return pieces


def chunk_text(text: str, count_tokens: Callable[[str], int], max_tokens: int) -> list[str]:
    """Split text into sentences and pack them into chunks of at most `max_tokens` tokens each.

    Sentences are packed whole while they fit; a sentence longer than `max_tokens` is cut at clause marks
    (`,`, `;`, `:`, `、`, ...) and then between words (or CJK characters). The chunks are as few as the greedy packing
    at `max_tokens` gives and as even as packing allows: the budget is lowered to the smallest that keeps that count
    (a batch runs until its longest chunk is spoken).

    Args:
        text: Any text.
        count_tokens: Number of tokens of a piece of text (e.g. the Bark tokenizer's count).
        max_tokens: Token budget per chunk, at least 1.

    Returns:
        The chunks, in order; `[]` for blank text.
    """
    if max_tokens < 1:
        raise ValueError(f"max_tokens must be at least 1, got {max_tokens}")
    pieces: list[str] = []
    for sentence in split_sentences(text):
        if count_tokens(sentence) <= max_tokens:
            pieces.append(sentence + " ")
        else:
            pieces.extend(_pieces_of_long_sentence(sentence, count_tokens, max_tokens))
    chunks = _pack(pieces, count_tokens, max_tokens)
    # Balance: the smallest budget that still packs into as few chunks. A batch of chunks runs until its longest
    # chunk is spoken, so even chunks waste less of a batch (and none gets longer than the greedy packing's longest).
    low, high = max((count_tokens(piece.strip()) for piece in pieces), default=1), max_tokens
    while low < high:
        middle = (low + high) // 2
        if len(_pack(pieces, count_tokens, middle)) <= len(chunks):
            high = middle
        else:
            low = middle + 1
    balanced = _pack(pieces, count_tokens, low)
    return balanced if len(balanced) == len(chunks) else chunks
