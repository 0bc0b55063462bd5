"""`bark-vocos convert SRC DST`: a Vocos checkpoint of any known layout -> the transformers (vocos_encodec) layout."""

from __future__ import annotations

import argparse

from bark_vocos.hub import check_model_source

from ..io.files import check_new_folder

__all__ = ["add_arguments", "run"]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("source", help="folder or hub id in any known layout (see bark-vocos inspect)")
    parser.add_argument(
        "destination", help="new (or empty) folder to write (config.json + model.safetensors); never overwritten"
    )


def run(args: argparse.Namespace) -> int:
    from bark_vocos.vocos.modeling_vocos_encodec import convert_checkpoint

    check_new_folder(args.destination)
    check_model_source(args.source, "Vocos checkpoint", "SOURCE")
    destination = convert_checkpoint(args.source, args.destination)  # with the permissions the umask gives
    print(f"wrote {destination} (transformers layout: config.json + model.safetensors)")
    return 0
