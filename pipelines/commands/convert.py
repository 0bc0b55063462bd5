"""`bark-vocos convert SRC DST`: a Vocos checkpoint of any known layout -> the transformers (vocos_encodec) layout."""

from __future__ import annotations

import argparse

from bark_vocos.vocos.modeling_vocos_encodec import convert_checkpoint

__all__ = ["add_arguments", "run"]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("source", help="folder or hub id in any known layout (see bark-vocos inspect)")
    parser.add_argument("destination", help="new folder to write (config.json + model.safetensors)")


def run(args: argparse.Namespace) -> int:
    destination = convert_checkpoint(args.source, args.destination)
    print(f"wrote {destination} (transformers layout: config.json + model.safetensors)")
    return 0
