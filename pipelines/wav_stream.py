"""A float32 mono WAV written as its audio arrives: to a pipe (`-o -`) or to a file that grows while it is written.

The header is written first with the data size unknown (`0xFFFFFFFF`, the convention for streamed WAV that
players and libsndfile accept: they read to the end of the data); on a seekable file the sizes are filled in when the
stream ends, so the finished file is an ordinary WAV.
"""

from __future__ import annotations

import struct
from typing import BinaryIO

import numpy as np

__all__ = ["WavStreamWriter"]

_UNKNOWN = 0xFFFFFFFF
_FLOAT = 3  # WAVE_FORMAT_IEEE_FLOAT
_HEADER_BYTES = 44


class WavStreamWriter:
    """Writes a float32 mono WAV to `stream` piece by piece.

    Args:
        stream: A binary stream (a file opened with "wb", or `sys.stdout.buffer`).
        sampling_rate: Samples per second.
    """

    def __init__(self, stream: BinaryIO, sampling_rate: int):
        self.stream = stream
        self.samples = 0
        self.stream.write(self._header(_UNKNOWN, _UNKNOWN, sampling_rate))
        self.sampling_rate = sampling_rate
        self.stream.flush()

    @staticmethod
    def _header(riff_size: int, data_size: int, sampling_rate: int) -> bytes:
        block = 4  # one float32 channel
        fmt = struct.pack("<HHIIHH", _FLOAT, 1, sampling_rate, sampling_rate * block, block, 32)
        return (
            b"RIFF"
            + struct.pack("<I", riff_size)
            + b"WAVE"
            + b"fmt "
            + struct.pack("<I", len(fmt))
            + fmt
            + b"data"
            + struct.pack("<I", data_size)
        )

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
        self.stream.write(self._header(data + _HEADER_BYTES - 8, data, self.sampling_rate))
        self.stream.seek(position)
        self.stream.flush()
