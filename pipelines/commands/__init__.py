"""The `bark-vocos` command line: one dispatcher, one module per command, one way to report user errors."""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from collections.abc import Sequence

from bark_vocos.errors import BarkVocosError

__all__ = ["main"]

# command (words separated by a space) -> (module in this package, with `add_arguments(parser)` and `run(args)`; help)
COMMANDS: dict[str, tuple[str, str]] = {
    "say": ("say", "text to a wav/flac file with Bark, decoded by Vocos"),
    "make-tiny": ("make_tiny", "write tiny random Bark + Vocos checkpoints (noise) for offline tests"),
    "decode": ("decode", "decode EnCodec codes (.npy, shape (K, T)) to a wav with the Vocos vocoder"),
    "convert": ("convert", "convert an original-layout Vocos checkpoint to the transformers layout"),
    "bench vocoder": ("bench_vocoder", "time our Vocos decoder against the original Vocos and EnCodec"),
    "compare": ("compare", "EnCodec decoder vs Vocos: scores, spectrograms and audio in one report"),
    "batch": ("batch", "a JOBS file of texts to audio files and a resumable manifest, locally or on a Ray cluster"),
    "bench batch": ("bench_batch", "rows/s and audio-s/s of the local and the Ray batch runner, in one run"),
    "bench stream": ("bench_stream", "time to first audio of a stream vs one call on the same text (random weights)"),
    "bench pipeline": (
        "bench_pipeline",
        "time transformers' Bark against our faster stages (random weights)",
    ),
}

# Errors a user can meet and fix; anything else is a bug and keeps its traceback.
USER_ERRORS = (BarkVocosError, ValueError, TypeError, OSError)


def build_parser() -> argparse.ArgumentParser:
    """The argument parser with every registered command (nested ones such as `bench vocoder` included)."""
    parser = argparse.ArgumentParser(
        prog="bark-vocos",
        description="Text to speech with Bark, decoded by Vocos. Set BARK_VOCOS_DEBUG=1 for full tracebacks.",
    )
    top = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    groups: dict[str, argparse._SubParsersAction] = {}
    for name, (module_name, help_text) in COMMANDS.items():
        words = name.split()
        subparsers = top
        if len(words) == 2:
            if words[0] not in groups:
                group = top.add_parser(words[0], help=f"{words[0]} commands")
                groups[words[0]] = group.add_subparsers(dest="subcommand", required=True, metavar="SUBCOMMAND")
            subparsers = groups[words[0]]
        sub = subparsers.add_parser(words[-1], help=help_text, description=help_text)
        module = importlib.import_module(f"{__name__}.{module_name}")
        module.add_arguments(sub)
        sub.set_defaults(_run=module.run)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the process exit code (0 ok, 1 user error, 2 usage error)."""
    args = build_parser().parse_args(argv)
    try:
        return int(args._run(args) or 0)
    except USER_ERRORS as error:
        if os.environ.get("BARK_VOCOS_DEBUG"):
            raise
        message = str(error) or type(error).__name__
        print(f"bark-vocos: error: {message}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("bark-vocos: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
