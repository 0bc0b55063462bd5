"""`bark-vocos bench stream`: time to first audio and total time of `pipe.stream` against `pipe(...)`, one run.

Both calls run the same pipeline (bark-small-shaped Bark and full-size Vocos with random weights, no download) on the
same text in one process. Random weights never predict Bark's end-of-speech token at a realistic time, so the
semantic length of each batch is set from its text instead: `--semantic-per-token` semantic tokens per text token of
the batch's longest chunk (14 by default: Bark speaks about 50 semantic tokens a second, and its ~13.5 s limit holds
about 48 text tokens), capped at the model's `max_new_tokens`. Every other stage runs as it would.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from typing import Any

import numpy as np
import torch
from transformers import BarkProcessor, BertTokenizer

from bark_vocos.bark import bark_stages

from ..defaults import MAX_CHUNK_TOKENS
from ..io.files import atomic_output, check_writable
from ..speech.text_to_wav import TextToWavPipeline
from .machine import bench_metadata, describe_machine, set_threads
from .pipeline import BARK_SMALL, QUICK, RANDOM_WEIGHTS_NOTE, SMALL_WINDOWS, random_bark_model, random_vocoder

__all__ = ["run"]

TEXT = (
    "The old lighthouse stood at the edge of the cliff, watching the grey sea roll in. "
    "Every evening the keeper climbed the narrow stairs and lit the great lamp. "
    "Ships far out in the fog would see the beam and turn away from the rocks. "
    "One winter night the lamp went dark, and the keeper could not find the reason. "
    "He worked until dawn with cold hands, replacing every wire and every fuse. "
    "When the light finally returned, a small fishing boat was already safe in the harbour."
)


def _processor(text: str) -> BarkProcessor:
    """A Bark processor whose WordPiece vocabulary holds the bench text's words (about one token per word, as the
    real multilingual BERT vocabulary gives for English)."""
    words = sorted({word for word in text.replace(",", " , ").replace(".", " . ").split()})
    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *words]
    with tempfile.TemporaryDirectory() as folder:
        path = f"{folder}/vocab.txt"
        with open(path, "w", encoding="utf-8") as file:
            file.write("\n".join(vocab) + "\n")
        tokenizer = BertTokenizer(path, do_lower_case=False)
    return BarkProcessor(tokenizer)


def _speech_length(pipe: TextToWavPipeline, per_token: float) -> None:
    """Make each batch's semantic length follow its text (see the module docstring) on `pipe`'s semantic stage."""
    semantic = pipe.stages.semantic
    generate = semantic.generate
    limit = pipe.generation_configs.semantic.max_new_tokens

    def with_speech_length(input_ids: torch.Tensor, **kwargs: Any) -> torch.Tensor:
        text_tokens = int(kwargs["attention_mask"].sum(1).max())
        length = max(1, min(limit, round(per_token * text_tokens)))
        return generate(input_ids, **{**kwargs, "max_new_tokens": length, "min_new_tokens": length})

    semantic.generate = with_speech_length


def _one_call(pipe: TextToWavPipeline, options: dict[str, Any]) -> tuple[float, np.ndarray, int]:
    """Seconds of `pipe(TEXT)`, its audio and its number of chunks."""
    start = time.perf_counter()
    output = pipe(TEXT, **options)
    return time.perf_counter() - start, output.audio, len(output.chunks)


def _streamed(pipe: TextToWavPipeline, options: dict[str, Any], first_chunk_tokens: int) -> tuple[float, float, Any]:
    """Seconds to the first chunk of `pipe.stream(TEXT)`, seconds to its end, and the chunks."""
    start = time.perf_counter()
    first = None
    pieces = []
    for chunk in pipe.stream(TEXT, first_chunk_tokens=first_chunk_tokens, **options):
        if first is None:
            first = time.perf_counter() - start
        pieces.append(chunk)
    return first, time.perf_counter() - start, pieces


def run(args: argparse.Namespace) -> int:
    """Build the random pipeline, time stream and one call in turn, print the figures."""
    if args.repeats < 1:
        raise ValueError(f"--repeats must be >= 1, got {args.repeats}")
    if not 1 <= args.first_chunk_tokens <= MAX_CHUNK_TOKENS:
        raise ValueError(f"--first-chunk-tokens must be in [1, {MAX_CHUNK_TOKENS}], got {args.first_chunk_tokens}")
    if not args.semantic_per_token > 0:
        raise ValueError(f"--semantic-per-token must be > 0, got {args.semantic_per_token}")
    set_threads(args.threads)
    if args.out is not None:
        check_writable(args.out)
    size = QUICK if args.quick else BARK_SMALL
    print(f"bench stream: {RANDOM_WEIGHTS_NOTE}")
    print(describe_machine())
    model = random_bark_model(**size, seed=args.seed, generation=SMALL_WINDOWS if args.quick else None).eval()
    pipe = TextToWavPipeline(
        model, _processor(TEXT), random_vocoder(args.quick, args.seed), bark_stages(model, args.engine)
    )
    _speech_length(pipe, args.semantic_per_token)
    options = {"seed": args.seed, "progress": False}
    pipe("The old lighthouse.", **options)  # warm-up: every stage and the decoder once, not timed

    firsts, streamed_totals, one_call_totals = [], [], []
    for _ in range(args.repeats):  # interleaved, so a change in the machine's load hits both sides
        first, streamed_total, pieces = _streamed(pipe, options, args.first_chunk_tokens)
        one_call_total, audio, chunks = _one_call(pipe, options)
        firsts.append(first)
        streamed_totals.append(streamed_total)
        one_call_totals.append(one_call_total)
    streamed_audio = np.concatenate([piece.audio for piece in pieces])
    rate = pipe.sampling_rate()
    same_length = streamed_audio.shape == audio.shape  # equal when the chunking is (not with a shorter first chunk)
    results = {
        "note": RANDOM_WEIGHTS_NOTE,
        "machine": bench_metadata(),
        "engine": args.engine,
        "model": size,
        "first_chunk_tokens": args.first_chunk_tokens,
        "semantic_per_token": args.semantic_per_token,
        "repeats": args.repeats,
        "text_sentences": TEXT.count(". ") + 1,
        "one_call_chunks": chunks,
        "stream_chunks": len(pieces),
        "first_chunk_text": pieces[0].text,
        "audio_seconds": {"one_call": audio.shape[0] / rate, "stream": streamed_audio.shape[0] / rate},
        "stream_vs_one_call_max_difference": float(np.abs(streamed_audio - audio).max()) if same_length else None,
        "time_to_first_audio_s": round(statistics.median(firsts), 4),
        "stream_total_s": round(statistics.median(streamed_totals), 4),
        "one_call_total_s": round(statistics.median(one_call_totals), 4),
        "first_audio_share_of_one_call": round(
            statistics.median(f / t for f, t in zip(firsts, one_call_totals, strict=True)), 3
        ),
        "stream_total_over_one_call": round(
            statistics.median(s / t for s, t in zip(streamed_totals, one_call_totals, strict=True)), 3
        ),
    }
    print(
        f"one call ({chunks} chunks): {results['one_call_total_s']} s for {results['audio_seconds']['one_call']:.1f} s"
    )
    print(f"stream ({len(pieces)} chunks, first: {pieces[0].text!r}):")
    print(f"  time to first audio {results['time_to_first_audio_s']} s = "
          f"{results['first_audio_share_of_one_call']:.1%} of the one call (target <= 20%)")  # fmt: skip
    print(f"  total {results['stream_total_s']} s = {results['stream_total_over_one_call']:.2f}x the one call "
          "(target <= 1.10x)")  # fmt: skip
    if args.out is not None:
        with atomic_output(args.out) as tmp:
            tmp.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
        print(f"wrote {args.out}")
    return 0
