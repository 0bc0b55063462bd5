"""`bark-vocos voice clone`: a Bark voice preset (.npz) from a recording of someone's speech (with their consent)."""

from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path

from ..defaults import BARK_MODEL, DEVICE, ENCODEC_MODEL, HUBERT_MODEL, QUANTIZER_FILE, QUANTIZER_MODEL
from ..io.files import check_writable
from .options import DEVICE_HELP, random_weights_note

__all__ = ["add_arguments", "run"]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The `voice clone` options."""
    parser.epilog = (
        "Clone only the voice of someone who agreed to it. By default the last part of the recording with speech in "
        "it is used, as long as the Bark model reads of a voice (about 7 s); --start/--seconds choose another part."
    )
    parser.add_argument("recording", help="the recording: any file soundfile reads (wav, flac, ogg, mp3, ...)")
    parser.add_argument("-o", "--output", required=True, help="the voice preset to write, .npz")
    parser.add_argument("--hubert", default=HUBERT_MODEL, help="HuBERT base hub id or folder (default: %(default)s)")
    parser.add_argument(
        "--quantizer",
        default=QUANTIZER_MODEL,
        help=f"HuBERT quantizer: a .pth file, a folder, a hub id (its {QUANTIZER_FILE}) or ID/FILE "
        "(default: %(default)s)",
    )
    parser.add_argument(
        "--encodec", default=ENCODEC_MODEL, help="EnCodec 24 kHz hub id or folder (default: %(default)s)"
    )
    parser.add_argument(
        "--bark",
        default=BARK_MODEL,
        help="the Bark model the voice is for; its configs only are read (default: %(default)s)",
    )
    parser.add_argument("--start", type=float, help="start of the part to use, in seconds (default: see below)")
    parser.add_argument("--seconds", type=float, help="length of the part to use (default: what Bark reads)")
    parser.add_argument("--device", default=DEVICE, help=DEVICE_HELP)


def _check_options(args: argparse.Namespace) -> None:
    """Fail before reading or loading anything when the output cannot be written or a number is not one."""
    if Path(args.output).suffix != ".npz" or Path(args.output).name == ".npz":
        raise ValueError(f"the voice preset file must end in .npz, got '{args.output}'")
    check_writable(args.output)
    for name in ("start", "seconds"):
        value = getattr(args, name)
        if value is not None and not math.isfinite(value):
            raise ValueError(f"--{name} {value} is not a number of seconds")


def run(args: argparse.Namespace) -> int:
    """Read the recording, load the models, write the preset; one line per problem (via the dispatcher)."""
    from transformers.utils import logging as transformers_logging

    from ..speech.devices import resolve_device
    from ..speech.voice_cloning import VoiceCloner, read_recording

    _check_options(args)
    resolve_device(args.device)
    recording = read_recording(args.recording)
    if recording.channels > 1:
        print(f"note: {args.recording} has {recording.channels} channels: downmixed to mono", file=sys.stderr)
    transformers_logging.disable_progress_bar()  # its "Loading weights" bars
    cloner = VoiceCloner.from_pretrained(
        hubert=args.hubert, quantizer=args.quantizer, encodec=args.encodec, bark=args.bark, device=args.device
    )
    voice = cloner(recording.audio, recording.sampling_rate, start=args.start, seconds=args.seconds)
    voice.save(args.output)
    window, bounds = voice.window, voice.bounds
    print(
        f"wrote {args.output}: a voice from {window.start:.2f} to {window.start + window.seconds:.2f} s of "
        f"{args.recording} ({window.speech_seconds:.2f} s of speech; the Bark model reads the last "
        f"{max(bounds.history_seconds.values()):.2f} s): {voice.semantic_prompt.shape[0]} semantic tokens, "
        f"{voice.fine_prompt.shape[1]} frames of {voice.fine_prompt.shape[0]} codebooks"
    )
    note = random_weights_note(args.hubert, args.quantizer, consequence="this preset is no one's voice", source="tests")
    if note:
        print(note, file=sys.stderr)
    return 0
