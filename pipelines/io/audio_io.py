"""The one place bark-vocos reads and writes audio files (soundfile) and resamples (scipy.signal)."""

from __future__ import annotations

import math
import os
from pathlib import Path

import numpy as np
import soundfile as sf

from .files import atomic_output, check_writable, output_path

__all__ = ["check_audio_output", "read_audio", "resample", "write_audio"]

_SUBTYPE_BY_SUFFIX = {".wav": "FLOAT", ".flac": "PCM_24"}


def resample(audio: np.ndarray, orig_sr: int, target_sr: int) -> np.ndarray:
    """Resample along the last axis with a polyphase filter (scipy.signal.resample_poly).

    Args:
        audio: Samples, shape `(..., T)`.
        orig_sr: Sampling rate of `audio` in Hz.
        target_sr: Wanted sampling rate in Hz.

    Returns:
        float32 array of shape `(..., ceil(T * target_sr / orig_sr))`.
    """
    if orig_sr <= 0 or target_sr <= 0:
        raise ValueError(f"sampling rates must be positive, got {orig_sr} and {target_sr}")
    audio = np.asarray(audio, dtype=np.float32)
    if orig_sr == target_sr:
        return audio
    g = math.gcd(int(orig_sr), int(target_sr))
    from scipy.signal import resample_poly  # on first use: the command line parses without scipy

    return resample_poly(audio, int(target_sr) // g, int(orig_sr) // g, axis=-1).astype(np.float32)


def read_audio(path: str | os.PathLike, sampling_rate: int | None = None) -> tuple[np.ndarray, int]:
    """Read any file soundfile reads (wav, flac, ogg, mp3, ...) as mono float32.

    Args:
        path: The audio file.
        sampling_rate: Resample to this rate when given; keep the file's rate otherwise.

    Returns:
        `(audio, sampling_rate)` with `audio` of shape `(T,)`, channels averaged.

    Raises:
        FileNotFoundError: The file does not exist.
        ValueError: soundfile cannot read it, or it holds no samples.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"audio file not found: {path}")
    try:
        audio, file_sr = sf.read(str(path), dtype="float32", always_2d=True)
    except sf.LibsndfileError as error:
        raise ValueError(f"cannot read audio file {path}: {error}") from error
    if audio.shape[0] == 0:
        raise ValueError(f"audio file {path} holds no samples")
    audio = audio.mean(axis=1)
    if sampling_rate is not None and sampling_rate != file_sr:
        return resample(audio, file_sr, sampling_rate), sampling_rate
    return audio, file_sr


def check_audio_output(path: str | os.PathLike) -> Path:
    """Fail early, before any work, when `path` is not a writable `.wav`/`.flac` file path.

    Returns:
        The path to write (the target of a symbolic link: see `files.output_path`).

    Raises:
        ValueError: Unsupported suffix, or a name that is only a suffix (".wav").
        FileNotFoundError, PermissionError: As `files.check_writable`.
    """
    path = output_path(path)
    suffix = path.suffix.lower()
    if path.name.lower() in _SUBTYPE_BY_SUFFIX:
        raise ValueError(f"output file name '{path.name}' is only an extension: give a name such as out{path.name}")
    if suffix not in _SUBTYPE_BY_SUFFIX:
        raise ValueError(f"unsupported output format '{suffix or path.name}': use one of {sorted(_SUBTYPE_BY_SUFFIX)}")
    return check_writable(path)


def write_audio(path: str | os.PathLike, audio: np.ndarray, sampling_rate: int, comment: str | None = None) -> Path:
    """Write mono audio atomically: to a temporary file beside `path`, renamed into place when complete.

    The format follows the suffix: `.wav` (32-bit float) or `.flac` (24-bit). A failure leaves no file at `path`.

    Args:
        path: Destination, ending in `.wav` or `.flac`.
        audio: Samples, shape `(T,)`.
        sampling_rate: In Hz.
        comment: Stored in the file's metadata (WAV LIST/INFO, FLAC Vorbis comment), e.g. the seed it was made with.

    Returns:
        The path written.

    Raises:
        ValueError: Unsupported suffix, or audio that is not one-dimensional, empty, or not finite.
        OSError: The folder does not exist or is not writable.
    """
    path = check_audio_output(path)
    suffix = path.suffix.lower()
    audio = np.asarray(audio, dtype=np.float32)
    if audio.ndim != 1 or audio.size == 0:
        raise ValueError(f"expected non-empty mono audio of shape (T,), got shape {audio.shape}")
    if not np.isfinite(audio).all():
        raise ValueError("audio contains NaN or infinite samples; refusing to write it")
    with atomic_output(path) as tmp:
        with sf.SoundFile(tmp, "w", int(sampling_rate), 1, _SUBTYPE_BY_SUFFIX[suffix], format=suffix[1:].upper()) as f:
            _disable_peak_chunk(f)
            if comment is not None:
                f.comment = comment
            f.write(audio)
    return path


_SFC_SET_ADD_PEAK_CHUNK = 0x1050  # libsndfile's sf_command to turn off the PEAK chunk


def _disable_peak_chunk(f: sf.SoundFile) -> None:
    """Leave out the PEAK chunk libsndfile adds to float wavs: it holds a timestamp, so the same samples written twice
    would give different bytes. soundfile has no public switch for it, hence its low-level `sf_command`; where that is
    not reachable the file is still correct, only not byte-identical across runs."""
    snd, file_handle, ffi = getattr(sf, "_snd", None), getattr(f, "_file", None), getattr(sf, "_ffi", None)
    if snd is not None and file_handle is not None and ffi is not None:
        snd.sf_command(file_handle, _SFC_SET_ADD_PEAK_CHUNK, ffi.NULL, 0)
