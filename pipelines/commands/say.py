"""`bark-vocos say`: text to a wav/flac file with Bark and Vocos, a progress bar per stage."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ..io.audio_io import check_audio_output, write_audio
from ..io.files import atomic_output, atomic_outputs, check_writable
from ..io.wav_stream import WavStreamWriter
from ..speech.checks import check_generation_options, check_seed_option, check_texts
from .options import (
    add_decoder_option,
    add_engine_options,
    add_first_chunk_option,
    add_long_form_options,
    add_model_options,
    check_engine_options,
    random_weights_note,
)

__all__ = ["add_arguments", "run"]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The `say` options."""
    parser.usage = (
        "%(prog)s (TEXT | --text-file FILE) -o OUTPUT [options]\n       %(prog)s --list-voices [--bark ID|PATH]"
    )
    parser.add_argument("text", nargs="?", help="the text to speak (or use --text-file)")
    parser.add_argument(
        "-o",
        "--output",
        help="output file, .wav or .flac; - writes a WAV stream to stdout (required, except with --list-voices)",
    )
    parser.add_argument("--text-file", help="read the text from this UTF-8 file (any length: long-form)")
    add_model_options(parser)
    parser.add_argument("--voice", help="voice preset name (see --list-voices) or a local .npz preset")
    parser.add_argument(
        "--seed",
        type=int,
        help="random seed, 0 to 2**64-1: the same seed gives the same audio on CPU (default: drawn at random, printed "
        "and stored in the output file's comment)",
    )
    add_engine_options(parser)
    add_decoder_option(parser)
    add_long_form_options(parser)
    parser.add_argument(
        "--stream",
        action="store_true",
        help="write audio as each chunk is generated (a .wav file, growing as .NAME.*.part until complete, or -)",
    )
    add_first_chunk_option(parser)
    parser.add_argument("--save-voice", help="also save the generation as a voice preset .npz")
    parser.add_argument("--list-voices", action="store_true", help="list the Bark model's voice presets and exit")
    parser.add_argument("--no-progress", action="store_true", help="no progress bars")


def _read_text(args: argparse.Namespace) -> str:
    if (args.text is None) == (args.text_file is None):
        raise ValueError("give the text either as an argument or with --text-file, not both or neither")
    if args.text_file is None:
        return args.text
    path = Path(args.text_file)
    if not path.exists():  # a pipe or /dev/stdin is not a regular file, but can be read
        raise FileNotFoundError(f"--text-file {path}: no such file")
    if path.is_dir():
        raise IsADirectoryError(f"--text-file {path} is a folder: give a UTF-8 text file")
    try:
        return path.read_text(encoding="utf-8")
    except UnicodeDecodeError as error:
        raise ValueError(
            f"--text-file {path} is not UTF-8 text (byte {error.object[error.start]:#04x} at offset {error.start}): "
            "save it as UTF-8"
        ) from error


def _check_options(args: argparse.Namespace) -> None:
    """Fail before loading any model when an output cannot be written or a setting is out of range."""
    if args.output is None:
        raise ValueError("no output file: pass -o FILE.wav (or .flac, or - for a WAV stream on stdout)")
    if args.output == "-" and sys.stdout is None:
        raise ValueError("-o - writes to stdout, but stdout is closed: redirect it to a file or a pipe, or use -o FILE")
    if args.output != "-":
        check_audio_output(args.output)
        if args.stream and Path(args.output).suffix.lower() != ".wav":
            raise ValueError(f"--stream writes WAV: use an output ending in .wav or -, got '{args.output}'")
    if args.save_voice is not None:
        if not args.save_voice.endswith(".npz"):
            raise ValueError(f"--save-voice must end in .npz, got '{args.save_voice}'")
        if args.stream or args.output == "-":
            raise ValueError("--save-voice needs the whole generation: it cannot be combined with --stream or -o -")
        check_writable(args.save_voice)
        if Path(args.save_voice).resolve() == Path(args.output).resolve():
            raise ValueError("--save-voice and -o name the same file")
    check_generation_options(
        pause=args.pause,
        max_chunk_tokens=args.max_chunk_tokens,
        batch_size=args.batch_size,
        first_chunk_tokens=args.first_chunk_tokens,
    )
    check_seed_option(args.seed)


def _stream(pipe, text: str, options: dict, args: argparse.Namespace) -> None:
    """Write the audio as it is generated: to stdout (`-o -`) or to a WAV that grows and is renamed when complete."""
    chunks = pipe.stream(text, **options)  # checks every option before anything is written
    if args.output == "-":
        writer = WavStreamWriter(sys.stdout.buffer, pipe.sampling_rate(args.decoder))
        for chunk in chunks:
            writer.write(chunk.audio)
        writer.finish()
        print(f"streamed {writer.samples / writer.sampling_rate:.2f} s to stdout, seed {chunk.seed}", file=sys.stderr)
        return
    with atomic_output(args.output) as tmp, open(tmp, "wb") as file:
        writer = WavStreamWriter(file, pipe.sampling_rate(args.decoder))
        for chunk in chunks:
            writer.write(chunk.audio)
        writer.finish()
    seconds = writer.samples / writer.sampling_rate
    rate = writer.sampling_rate
    print(f"wrote {args.output}: {seconds:.2f} s at {rate} Hz, streamed, {args.decoder}, seed {chunk.seed}")


def run(args: argparse.Namespace) -> int:
    """Generate and write the file(s); one line per problem (via the dispatcher), all outputs or none."""
    from bark_vocos.hub import check_model_source

    if args.list_voices:
        from transformers import BarkProcessor

        from bark_vocos.hub import explain_unavailable

        check_model_source(args.bark, "Bark model", "--bark PATH", "bark")
        with explain_unavailable(args.bark, "Bark model", "--bark PATH"):
            processor = BarkProcessor.from_pretrained(args.bark)
        print("\n".join(processor.available_voice_presets))
        return 0
    text = _read_text(args)
    check_texts([text])  # the pipeline's own check of its texts, here before torch loads
    _check_options(args)  # before torch loads: a bad path or setting answers at once
    from ..speech.text_to_wav import TextToWavPipeline

    check_engine_options(args)
    vocoder = args.vocoder if args.decoder == "vocos" else None
    check_model_source(args.bark, "Bark model", "--bark PATH", "bark")
    if vocoder is not None:
        check_model_source(vocoder, "Vocos vocoder", "--vocoder PATH")
    from transformers.utils import logging as transformers_logging

    transformers_logging.set_verbosity_error()  # Bark's own deprecation chatter is not the user's concern
    if args.no_progress:
        transformers_logging.disable_progress_bar()  # its "Loading weights" bars

    pipe = TextToWavPipeline.from_pretrained(
        bark=args.bark, vocoder=vocoder, device=args.device, dtype=args.dtype, engine=args.engine
    )
    options = {
        "voice_preset": args.voice,
        "seed": args.seed,
        "decoder": args.decoder,
        "max_chunk_tokens": args.max_chunk_tokens,
        "first_chunk_tokens": args.first_chunk_tokens,
        "pause_seconds": args.pause,
        "batch_size": args.batch_size,
        "prompt_with_previous": args.prompt_with_previous,
        "progress": not args.no_progress,
    }
    if args.stream or args.output == "-":
        _stream(pipe, text, options, args)
    else:
        output = pipe(text, output_full=args.save_voice is not None, **options)
        output.check_audio()
        # Both files or neither: each goes to a temporary file, and both are renamed only once both are complete.
        specs = [(args.output, Path(args.output).suffix)] + ([(args.save_voice, ".npz")] if args.save_voice else [])
        with atomic_outputs(*specs) as tmps:
            write_audio(tmps[0], output.audio, output.sampling_rate, comment=f"bark-vocos seed {output.seed}")
            if args.save_voice:
                output.save_voice_preset(tmps[1])
        seconds = output.audio.shape[0] / output.sampling_rate
        print(
            f"wrote {args.output}: {seconds:.2f} s at {output.sampling_rate} Hz, {len(output.chunks)} chunk(s), "
            f"{args.decoder}, seed {output.seed}"
        )
        if args.save_voice is not None:
            print(f"wrote voice preset {args.save_voice}")
    note = random_weights_note(args.bark, vocoder)
    if note:
        print(note, file=sys.stderr)
    return 0
