"""The options several commands share, written once: the models, the engine and where it runs, the long-form
settings; and the note printed after audio made with random weights. Every default comes from `pipelines.defaults`.

Light on purpose: building a parser imports no torch (`bark-vocos --help` answers at once).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from ..defaults import (
    BARK_MAX_INPUT_TOKENS,
    BARK_MODEL,
    BATCH_SIZE,
    DECODER,
    DECODERS,
    DEVICE,
    ENGINE,
    ENGINES,
    MAX_CHUNK_TOKENS,
    MAX_PAUSE_SECONDS,
    PAUSE_SECONDS,
    VOCODER_MODEL,
)

__all__ = [
    "DEVICE_HELP",
    "DTYPE_HELP",
    "ENGINE_HELP",
    "NOISE",
    "add_decoder_option",
    "add_engine_options",
    "add_first_chunk_option",
    "add_long_form_options",
    "add_model_options",
    "check_engine_options",
    "random_weights_note",
]

NOISE = "the audio is noise, not speech"  # what random weights make, in the note below

DEVICE_HELP = "cpu (default), cuda, cuda:N or auto"
DTYPE_HELP = "float32/fp32, float16/fp16 or bfloat16/bf16 (default: the dtype the checkpoints were saved in)"
ENGINE_HELP = (
    f"how Bark's stages run (default: {ENGINE}): exact (faster than transformers, the same codes), transformers "
    "(the reference), fast (int8, CPU only, codes differ slightly)"
)


def add_model_options(parser: argparse.ArgumentParser, *, vocoder: bool = True) -> None:
    """`--bark` (default `BARK_MODEL`) and, with `vocoder`, `--vocoder` (default `VOCODER_MODEL`)."""
    parser.add_argument("--bark", default=BARK_MODEL, help="Bark hub id or local folder (default: %(default)s)")
    if vocoder:
        parser.add_argument(
            "--vocoder", default=VOCODER_MODEL, help="Vocos-EnCodec hub id or local folder (default: %(default)s)"
        )


def add_engine_options(parser: argparse.ArgumentParser, *, device_help: str = DEVICE_HELP) -> None:
    """`--engine` (default `ENGINE`, one of `ENGINES`), `--device` (default `DEVICE`) and `--dtype` (default: the
    checkpoints'); `device_help` says more where a command places the models its own way (Ray: a GPU per actor)."""
    parser.add_argument("--engine", default=ENGINE, choices=ENGINES, help=ENGINE_HELP)
    parser.add_argument("--device", default=DEVICE, help=device_help)
    parser.add_argument("--dtype", help=DTYPE_HELP)


def add_decoder_option(parser: argparse.ArgumentParser, help: str | None = None) -> None:
    """`--decoder` (default `DECODER`, one of `DECODERS`)."""
    parser.add_argument("--decoder", default=DECODER, choices=DECODERS, help=help or "default: %(default)s")


def add_long_form_options(parser: argparse.ArgumentParser, *, prompt_with_previous: bool = True) -> None:
    """`--pause`, `--max-chunk-tokens`, `--batch-size` (defaults `PAUSE_SECONDS`, `MAX_CHUNK_TOKENS`, `BATCH_SIZE`)
    and, with `prompt_with_previous`, `--prompt-with-previous`: the pipeline's long-form settings by their names."""
    parser.add_argument(
        "--pause",
        type=float,
        default=PAUSE_SECONDS,
        help=f"seconds of silence between chunks, 0 to {MAX_PAUSE_SECONDS:g} (default: %(default)s)",
    )
    parser.add_argument(
        "--max-chunk-tokens",
        type=int,
        default=MAX_CHUNK_TOKENS,
        help=f"token budget of one Bark generation, 1 to {BARK_MAX_INPUT_TOKENS} (default: %(default)s)",
    )
    parser.add_argument(
        "--batch-size", type=int, default=BATCH_SIZE, help="chunks generated together, 1 or more (default: %(default)s)"
    )
    if prompt_with_previous:
        parser.add_argument(
            "--prompt-with-previous", action="store_true", help="prompt each chunk with the previous chunk's tokens"
        )


def add_first_chunk_option(parser: argparse.ArgumentParser) -> None:
    """`--first-chunk-tokens` (default `None`: as the other chunks)."""
    parser.add_argument(
        "--first-chunk-tokens",
        type=int,
        help="token budget of the first chunk only: a short first chunk makes the first audio come sooner "
        "(default: as the rest)",
    )


def check_engine_options(args: argparse.Namespace) -> None:
    """`args.device` and `args.dtype` as the pipeline will read them, checked before any model loads.

    Raises:
        ValueError: An unknown device or dtype (naming the valid ones), or a CUDA device this machine lacks.
    """
    from ..speech.devices import resolve_device, resolve_dtype

    resolve_device(args.device)
    resolve_dtype(args.dtype)


def random_weights_note(*paths: str | None, consequence: str = NOISE, source: str = "make-tiny") -> str | None:
    """The note a command prints after using checkpoints marked as random weights, or `None` when none is.

    Args:
        paths: Model folders or hub ids (`None`: not used), or files inside a folder (a quantizer's `.pth`).
        consequence: What the random weights mean for this command's output.
        source: What wrote them, shown in brackets.
    """
    from bark_vocos.tiny import is_random_checkpoint

    def marked(path: str) -> bool:
        return is_random_checkpoint(path) or (Path(path).is_file() and is_random_checkpoint(Path(path).parent))

    random = [path for path in paths if path is not None and marked(path)]
    if not random:
        return None
    verb = "holds" if len(random) == 1 else "hold"
    return f"note: {', '.join(random)} {verb} random weights ({source}): {consequence}"
