"""A float32 mono WAV written as its audio arrives: to a pipe (`-o -`) or to a file that grows while it is written.

The header is written first with the data size unknown (`0xFFFFFFFF`, the convention for streamed WAV that
players and libsndfile accept: they read to the end of the data); on a seekable file the sizes are filled in when the
stream ends, so the finished file is an ordinary WAV.
"""

from __future__ import annotations

import struct
from typing import BinaryIO

import numpy as np

__all__ = ["WavStreamWriter", "wav_header"]

_UNKNOWN = 0xFFFFFFFF
_HEADER_BYTES = 44
# sample format -> (WAVE format tag, bytes per sample): IEEE float32, or 16-bit integer PCM
_FORMATS = {"float32": (3, 4), "pcm16": (1, 2)}


def wav_header(sampling_rate: int, sample_format: str = "float32", data_bytes: int | None = None) -> bytes:
    """The 44-byte header of a mono WAV; `data_bytes=None` writes the sizes as unknown (0xFFFFFFFF), for a stream.

    Args:
        sampling_rate: Samples per second.
        sample_format: `"float32"` or `"pcm16"`.
        data_bytes: Bytes of sample data that follow, when known.
    """
    tag, width = _FORMATS[sample_format]
    fmt = struct.pack("<HHIIHH", tag, 1, sampling_rate, sampling_rate * width, width, 8 * width)
    data = _UNKNOWN if data_bytes is None else data_bytes
    riff = _UNKNOWN if data_bytes is None else data_bytes + _HEADER_BYTES - 8
    return (
        b"RIFF"
        + struct.pack("<I", riff)
        + b"WAVE"
        + b"fmt "
        + struct.pack("<I", len(fmt))
        + fmt
        + b"data"
        + (struct.pack("<I", data))
    )


class WavStreamWriter:
    """Writes a float32 mono WAV to `stream` piece by piece.

    Args:
        stream: A binary stream (a file opened with "wb", or `sys.stdout.buffer`).
        sampling_rate: Samples per second.
    """

    def __init__(self, stream: BinaryIO, sampling_rate: int):
        self.stream = stream
        self.samples = 0
        self.stream.write(wav_header(sampling_rate))
        self.sampling_rate = sampling_rate
        self.stream.flush()

    def write(self, audio: np.ndarray) -> None:
        """Append float32 samples `(n,)` and flush them, so a reader sees them at once."""
        self.stream.write(np.asarray(audio, dtype="<f4").tobytes())
        self.stream.flush()
        self.samples += int(audio.shape[0])

    def finish(self) -> None:
        """Fill in the sizes where the stream can seek (a file); a pipe keeps the open-ended header."""
        if not self.stream.seekable():
            return
        data = self.samples * 4
        if data + _HEADER_BYTES - 8 >= _UNKNOWN:
            return  # over 4 GiB: WAV cannot say it; readers take the data to the end
        position = self.stream.tell()
        self.stream.seek(0)
        self.stream.write(wav_header(self.sampling_rate, data_bytes=data))
        self.stream.seek(position)
        self.stream.flush()
