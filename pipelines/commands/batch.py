"""`bark-vocos batch`: a JOBS file of texts to one audio file per row and a resumable manifest, locally or on Ray."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ..defaults import FORMATS, RUNNERS
from ..speech.checks import check_generation_options, check_seed_option, check_threads_option
from .options import (
    add_decoder_option,
    add_engine_options,
    add_long_form_options,
    add_model_options,
    random_weights_note,
)

__all__ = ["ROWS_FAILED_EXIT_CODE", "add_arguments", "run"]

ROWS_FAILED_EXIT_CODE = 3  # the job ran to the end but some rows failed (1: a user error, 2: a usage error)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The `batch` options."""
    parser.add_argument("jobs", help="JOBS file: .jsonl or .csv with id,text[,voice,seed,decoder,...], or plain text")
    parser.add_argument("--out", required=True, help="output folder: <id>.<format> per row and manifest.jsonl")
    parser.add_argument("--runner", default="local", choices=RUNNERS, help="default: %(default)s")
    parser.add_argument("--ray-address", help="join this Ray cluster (e.g. auto, HOST:6379); default: a local Ray")
    parser.add_argument("--workers", type=int, default=1, help="Ray actors, each loading the models once (default: 1)")
    parser.add_argument("--threads", type=int, help="torch threads per worker (default: torch's; Ray: 1)")
    add_model_options(parser)
    add_engine_options(parser, device_help="cpu (default), cuda or auto (Ray: one GPU per actor)")
    parser.add_argument("--format", default="wav", choices=FORMATS, help="wav (32-bit float, default) or flac")
    parser.add_argument("--voice", help="voice preset of rows that name none (default: no voice prompt)")
    parser.add_argument("--seed", type=int, default=0, help="job seed (rows without a seed: one from it and the id)")
    add_decoder_option(parser, help="decoder of rows that name none (default: %(default)s)")
    add_long_form_options(parser, prompt_with_previous=False)
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")


def _check_options(args: argparse.Namespace) -> None:
    """Every setting the whole job shares, checked as `say` checks them (the rows are checked as the job is read)."""
    if not Path(args.jobs).is_file():
        raise FileNotFoundError(f"jobs file not found: {args.jobs}")
    check_generation_options(pause=args.pause, max_chunk_tokens=args.max_chunk_tokens, batch_size=args.batch_size)
    check_seed_option(args.seed)
    check_threads_option(args.threads)
    if args.workers < 1:
        raise ValueError(f"--workers {args.workers} is out of range: use 1 or more")


def run(args: argparse.Namespace) -> int:
    """Run the job; prints the summary; exit 0 when every row is done, 3 when some failed (see the manifest)."""
    _check_options(args)  # before torch and the models load
    from ..batch import BatchSettings, run_batch

    threads = args.threads if args.threads is not None or args.runner == "local" else 1
    settings = BatchSettings(
        bark=args.bark,
        vocoder=args.vocoder,
        engine=args.engine,
        device=args.device,
        dtype=args.dtype,
        threads=threads,
        max_chunk_tokens=args.max_chunk_tokens,
        pause_seconds=args.pause,
        batch_size=args.batch_size,
    )
    summary = run_batch(
        args.jobs,
        args.out,
        settings=settings,
        runner=args.runner,
        workers=args.workers,
        ray_address=args.ray_address,
        voice=args.voice,
        seed=args.seed,
        decoder=args.decoder,
        format=args.format,
        progress=not args.no_progress,
    )
    print(summary.describe())
    note = random_weights_note(args.bark, args.vocoder)
    if note:
        print(note, file=sys.stderr)
    for row_id, error in summary.failures[:10]:
        print(f"failed: {row_id}: {error}", file=sys.stderr)
    if len(summary.failures) > 10:
        print(f"... and {len(summary.failures) - 10} more failures: see {summary.manifest}", file=sys.stderr)
    return ROWS_FAILED_EXIT_CODE if summary.failed else 0
