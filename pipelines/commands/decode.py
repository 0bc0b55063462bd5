"""`bark-vocos decode CODES.npy -o OUT.wav`: EnCodec codes saved with numpy -> a wav, through the Vocos vocoder or
EnCodec's own decoder (`--decoder encodec`), so saved codes can be heard both ways."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

from bark_vocos.bandwidth import BANDWIDTHS, CODEBOOK_SIZE, num_codebooks_for_bandwidth

from ..defaults import ENCODEC_MODEL, VOCODER_MODEL
from ..io.audio_io import check_audio_output, write_audio
from ..io.npy_files import read_npy
from .options import add_decoder_option, random_weights_note

__all__ = ["MAX_DECODE_FRAMES", "VOCODER_MODEL", "add_arguments", "read_codes", "run"]

FRAMES_PER_SECOND = 75  # EnCodec 24 kHz: 320 samples per frame
# The longest input decoded in one pass: 10 minutes (45_000 frames, 14.4 M samples), a bound on the memory one pass
# takes beyond the loaded model. Longer code files are refused from the
# .npy header, before any data or the model is loaded; split them along T (numpy.array_split(codes, n, axis=1)).
MAX_DECODE_FRAMES = 10 * 60 * FRAMES_PER_SECOND


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "codes",
        type=Path,
        help=f"EnCodec 24 kHz codes saved with numpy.save: integers 0-1023, shape (K, T), K=2/4/8/16, "
        f"T up to {MAX_DECODE_FRAMES} frames (10 min)",
    )
    parser.add_argument("-o", "--output", type=Path, required=True, help="output .wav or .flac (required)")
    parser.add_argument("--vocoder", default=VOCODER_MODEL, help="Vocos hub id or local folder (default: %(default)s)")
    add_decoder_option(parser)
    parser.add_argument(
        "--encodec",
        default=ENCODEC_MODEL,
        help="EnCodec 24 kHz hub id or local folder, for --decoder encodec (default: %(default)s, Bark's codec)",
    )
    parser.add_argument(
        "--bandwidth", type=float, choices=BANDWIDTHS, help="kbps of the codes (default: from the number of codebooks)"
    )


def read_codes(path: Path) -> np.ndarray:
    """The codes of a `.npy` file as int64 `(K, T)`, checked (header first) before the model is loaded.

    Raises:
        FileNotFoundError: No such file.
        ValueError: Not a `.npy` array of integers from 0 to 1023 of shape `(K, T)`, K one of 2, 4, 8, 16 (a
            bandwidth's codebooks), `1 <= T <= MAX_DECODE_FRAMES`.
    """
    if not path.exists():
        raise FileNotFoundError(f"{path}: no such file")
    if path.suffix != ".npy" or not path.is_file():
        raise ValueError(f"{path} is not a .npy file of EnCodec codes (numpy.save of an integer array (K, T))")
    codes = read_npy(path, max_elements=16 * MAX_DECODE_FRAMES)  # refuses a bigger file before reading it
    if codes.ndim != 2 or codes.shape[1] == 0:
        raise ValueError(f"{path} holds shape {codes.shape}; decode takes one item of codes (K, T) with T >= 1 frames")
    if codes.shape[1] > MAX_DECODE_FRAMES:
        raise ValueError(
            f"{path} holds {codes.shape[1]} frames ({codes.shape[1] / FRAMES_PER_SECOND / 60:.1f} min); decode takes "
            f"at most {MAX_DECODE_FRAMES} frames (10 min) at once: split the codes along T"
        )
    if not np.issubdtype(codes.dtype, np.integer):
        raise ValueError(f"{path} holds {codes.dtype} values; EnCodec codes are integers from 0 to 1023")
    valid_counts = [num_codebooks_for_bandwidth(bandwidth) for bandwidth in BANDWIDTHS]
    if codes.shape[0] not in valid_counts:
        raise ValueError(f"{path} holds {codes.shape[0]} codebooks; EnCodec 24 kHz codes have one of {valid_counts}")
    low, high = int(codes.min()), int(codes.max())  # Python ints: no wrap-around of uint64 values at or above 2**63
    if low < 0 or high >= CODEBOOK_SIZE:
        bad = low if low < 0 else high
        raise ValueError(f"{path} holds the code {bad}; EnCodec codes are integers from 0 to {CODEBOOK_SIZE - 1}")
    return codes.astype(np.int64)


def run(args: argparse.Namespace) -> int:
    check_audio_output(args.output)  # before the work (and before torch loads): a bad -o costs nothing
    codes = read_codes(args.codes)
    if args.bandwidth is not None and codes.shape[0] != num_codebooks_for_bandwidth(args.bandwidth):
        raise ValueError(
            f"{args.codes} holds {codes.shape[0]} codebooks but bandwidth {args.bandwidth} kbps uses "
            f"{num_codebooks_for_bandwidth(args.bandwidth)}: drop --bandwidth or give the codes' own"
        )
    import torch

    from bark_vocos.hub import check_model_source

    model_path = args.vocoder if args.decoder == "vocos" else args.encodec
    if args.decoder == "vocos":
        from bark_vocos import VocosEncodecModel

        check_model_source(args.vocoder, "Vocos vocoder", "--vocoder PATH")
        model = VocosEncodecModel.from_pretrained(args.vocoder).eval()
        sampling_rate = model.config.sample_rate
        with torch.inference_mode():
            audio = model(codes=torch.from_numpy(codes), bandwidth=args.bandwidth).audio[0]
    else:
        from transformers import EncodecModel

        from bark_vocos.hub import explain_unavailable

        check_model_source(args.encodec, "EnCodec model", "--encodec PATH", "encodec")
        with explain_unavailable(args.encodec, "EnCodec model", "--encodec PATH"):
            model = EncodecModel.from_pretrained(args.encodec).eval()
        sampling_rate = model.config.sampling_rate
        with torch.inference_mode():  # (chunks=1, batch=1, K, T) -> (1, 1, T * 320)
            audio = model.decode(torch.from_numpy(codes)[None, None], [None]).audio_values[0, 0]
    write_audio(args.output, audio.cpu().numpy(), sampling_rate)
    seconds = audio.shape[0] / sampling_rate
    print(f"wrote {args.output} ({seconds:.2f} s at {sampling_rate} Hz, {codes.shape[0]} codebooks, {args.decoder})")
    note = random_weights_note(model_path)
    if note:
        print(note, file=sys.stderr)
    return 0
