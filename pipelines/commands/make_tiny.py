"""`bark-vocos make-tiny DIR`: tiny random Bark and Vocos checkpoints for offline smoke tests (the audio is noise)."""

from __future__ import annotations

import argparse

__all__ = ["add_arguments", "run"]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The `make-tiny` options."""
    parser.add_argument("dir", help="new (or empty) folder to write: DIR/bark and DIR/vocos; never overwritten")
    parser.add_argument(
        "--seed", type=int, default=0, help="seed of the random weights, 0 to 2**64-1 (default: %(default)s)"
    )


def run(args: argparse.Namespace) -> int:
    """Write the checkpoints and say what they are."""
    from bark_vocos.permissions import check_new_folder

    check_new_folder(args.dir)  # an existing checkpoint is refused at once, before torch and transformers load
    from transformers.utils import logging as transformers_logging

    from bark_vocos.testing import make_tiny

    transformers_logging.disable_progress_bar()
    path = make_tiny(args.dir, seed=args.seed)
    print(f"wrote {path / 'bark'} and {path / 'vocos'}")
    print("these are RANDOM weights: audio generated with them is noise, not speech (for offline smoke tests)")
    print(f"try: bark-vocos say 'Hello there.' -o tiny.wav --bark {path / 'bark'} --vocoder {path / 'vocos'}")
    return 0
