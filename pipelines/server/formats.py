"""Audio encodings of the speech server: 16-bit PCM, streamed WAV, and whole files in the formats libsndfile writes."""

from __future__ import annotations

import io

import numpy as np
import soundfile as sf

from ..io.wav_stream import wav_header

__all__ = [
    "FORMATS",
    "MEDIA_TYPES",
    "STREAMED_FORMATS",
    "encode_file",
    "to_pcm16",
    "wav_stream_header",
    "writable_formats",
]

# response_format -> (libsndfile container, subtype) for the formats written whole; OpenAI's opus is Ogg Opus
_SOUNDFILE_FORMATS = {
    "flac": ("FLAC", "PCM_16"),
    "mp3": ("MP3", "MPEG_LAYER_III"),
    "opus": ("OGG", "OPUS"),
}
# streamed chunk by chunk as 16-bit little-endian PCM (wav: behind a header of unknown length)
STREAMED_FORMATS = ("wav", "pcm")
# every format OpenAI's API names, in its order; aac has no libsndfile writer
FORMATS = ("mp3", "opus", "aac", "flac", "wav", "pcm")
MEDIA_TYPES = {
    "mp3": "audio/mpeg",
    "opus": "audio/ogg",
    "aac": "audio/aac",
    "flac": "audio/flac",
    "wav": "audio/wav",
    "pcm": "audio/pcm",
}


def to_pcm16(audio: np.ndarray) -> np.ndarray:
    """Float samples in [-1, 1] (clipped) to 16-bit integers, rounded to nearest.

    Args:
        audio: float samples, shape `(T,)`.

    Returns:
        int16 little-endian samples, shape `(T,)`.
    """
    audio = np.clip(np.asarray(audio, dtype=np.float32), -1.0, 1.0)
    return np.rint(audio * 32767.0).astype("<i2")


def wav_stream_header(sampling_rate: int) -> bytes:
    """The 44-byte header of a mono 16-bit PCM WAV whose length is not known yet (a stream).

    The RIFF and data sizes are 0xFFFFFFFF, the convention of streamed WAV (readers, soundfile and browsers included,
    read to the end of the stream). Written by hand because soundfile (libsndfile) writes the sizes only on a seekable
    file, after the last sample. 16-bit PCM as OpenAI's `wav` (and the same samples as `pcm`), not the float32 of
    `say --stream`: 16-bit is what every client of the API plays.
    """
    return wav_header(sampling_rate, "pcm16")


def writable_formats() -> tuple[str, ...]:
    """The `response_format`s this installation can answer: wav and pcm always, flac/mp3/opus when libsndfile writes
    them (checked by encoding a short silence, since mp3 and opus depend on how libsndfile was built)."""
    formats = []
    for name in FORMATS:
        if name in STREAMED_FORMATS:
            formats.append(name)
        elif name in _SOUNDFILE_FORMATS:
            try:
                encode_file(np.zeros(2400, dtype=np.float32), 24000, name)
            except (sf.LibsndfileError, ValueError, TypeError):
                continue
            formats.append(name)
    return tuple(formats)


def encode_file(audio: np.ndarray, sampling_rate: int, response_format: str) -> bytes:
    """Encode mono audio as a whole file in `response_format` (flac, mp3 or opus; wav and pcm are streamed instead).

    Args:
        audio: float samples, shape `(T,)`; clipped to [-1, 1] through `to_pcm16`, as the streamed formats are.
        sampling_rate: In Hz.
        response_format: One of "flac", "mp3", "opus".

    Returns:
        The file's bytes.

    Raises:
        ValueError: A format without a soundfile writer.
    """
    if response_format not in _SOUNDFILE_FORMATS:
        raise ValueError(f"no file encoder for '{response_format}': use one of {sorted(_SOUNDFILE_FORMATS)}")
    container, subtype = _SOUNDFILE_FORMATS[response_format]
    buffer = io.BytesIO()
    sf.write(buffer, to_pcm16(audio), sampling_rate, subtype=subtype, format=container)
    return buffer.getvalue()
