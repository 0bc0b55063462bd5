"""`bark-vocos inspect PATH|ID`: which Vocos-EnCodec checkpoint layout a folder or hub id holds, and what would load."""

from __future__ import annotations

import argparse

__all__ = ["add_arguments", "run"]

# The config values printed: what decides the architecture and the audio.
CONFIG_FIELDS = (
    "codebook_dim",
    "num_quantizers",
    "hidden_size",
    "intermediate_size",
    "num_layers",
    "n_fft",
    "hop_length",
    "istft_padding",
    "sample_rate",
    "bandwidths",
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("source", metavar="PATH|ID", help="local folder or hub id of a Vocos-EnCodec checkpoint")
    parser.add_argument("--revision", default=None, help="hub revision (branch, tag or commit) of a hub id")


def _check_loads(source: str, hub_kwargs: dict) -> None:
    """Load the checkpoint as `say` would: a folder whose files are cut, damaged or refused is an error, not "loads"."""
    from bark_vocos import VocosEncodecModel

    from . import user_error_message

    try:
        VocosEncodecModel.from_pretrained(source, **hub_kwargs)
    except Exception as error:
        message = user_error_message(error)
        if message is None:
            raise
        raise ValueError(f"{source} would not load as VocosEncodecModel: {message}") from error


def run(args: argparse.Namespace) -> int:
    from bark_vocos.hub import explain_unavailable
    from bark_vocos.vocos.conversion import config_for_layout
    from bark_vocos.vocos.layouts import detect_layout

    hub_kwargs = {"revision": args.revision} if args.revision else {}
    with explain_unavailable(args.source, "Vocos checkpoint", "bark-vocos inspect PATH"):
        layout = detect_layout(args.source, **hub_kwargs)
    config = config_for_layout(layout)
    _check_loads(args.source, hub_kwargs)
    print(f"source:      {layout.source}")
    print(f"layout:      {layout.name} - {layout.description}")
    print(f"model type:  {layout.model_type or '(none: config.yaml)'} -> loads as VocosEncodecModel (vocos_encodec)")
    print(f"config:      {layout.config_file.name}")
    print(f"weights:     {layout.weights_file.name}")
    print("config values:")
    for name in CONFIG_FIELDS:
        print(f"  {name}: {getattr(config, name)}")
    if layout.processor_files:
        print(f"processor:   {', '.join(path.name for path in layout.processor_files)}")
    else:
        print("processor:   none (VocosEncodecModel decodes codes itself; audio input needs a processor folder)")
    return 0
