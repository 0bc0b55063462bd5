"""`bark-vocos decode CODES.npy -o OUT.wav`: EnCodec codes saved with numpy -> a wav, through the Vocos vocoder."""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import torch

from bark_vocos import BANDWIDTHS, VocosEncodecModel
from bark_vocos.tiny import is_random_checkpoint

from ..audio_io import write_audio
from ..defaults import VOCODER_MODEL

__all__ = ["VOCODER_MODEL", "add_arguments", "run"]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("codes", type=Path, help="EnCodec 24 kHz codes saved with numpy.save, shape (K, T), K=2/4/8/16")
    parser.add_argument("-o", "--output", type=Path, required=True, help="output .wav or .flac")
    parser.add_argument(
        "--vocoder", default=VOCODER_MODEL, help=f"Vocos hub id or local folder (default {VOCODER_MODEL})"
    )
    parser.add_argument(
        "--bandwidth", type=float, choices=BANDWIDTHS, help="kbps of the codes (default: from the number of codebooks)"
    )


def run(args: argparse.Namespace) -> int:
    if args.codes.suffix != ".npy" or not args.codes.is_file():
        raise FileNotFoundError(f"{args.codes} is not a .npy file of EnCodec codes")
    codes = np.load(args.codes, allow_pickle=False)
    if codes.ndim != 2:
        raise ValueError(f"{args.codes} holds shape {codes.shape}; decode takes one item of codes (K, T)")
    model = VocosEncodecModel.from_pretrained(args.vocoder).eval()
    with torch.inference_mode():
        audio = model(codes=torch.from_numpy(codes.astype(np.int64)), bandwidth=args.bandwidth).audio[0]
    sampling_rate = model.config.sample_rate
    write_audio(args.output, audio.cpu().numpy(), sampling_rate)
    seconds = audio.shape[0] / sampling_rate
    print(f"wrote {args.output} ({seconds:.2f} s at {sampling_rate} Hz, {codes.shape[0]} codebooks)")
    if is_random_checkpoint(args.vocoder):
        print(f"note: {args.vocoder} has RANDOM weights (a test checkpoint): the wav is noise, not speech")
    return 0
