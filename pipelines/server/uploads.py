"""Voices uploaded to the speech server: `POST /v1/audio/voices` reads a recording within limits and clones it.

Only a server started with `--allow-voice-upload` (a `VoiceCloner` passed to `create_app`) accepts uploads. The body
is read at most `max_upload_bytes` far, the recording's length is checked from its header before its samples are
decoded, and cloning runs off the event loop. Uploaded voices live in memory until the server stops.
"""

from __future__ import annotations

import asyncio
import io
import re
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any

import soundfile as sf
from fastapi import Request
from starlette.datastructures import UploadFile
from starlette.formparsers import MultiPartException, MultiPartParser

from .schemas import ApiError

if TYPE_CHECKING:
    from ..speech.voice_cloning import ClonedVoice, VoiceCloner

__all__ = ["UPLOADED", "VOICE_NAME_PATTERN", "VoiceUploads", "clone_upload", "read_upload"]

UPLOADED = "uploaded"  # the `preset` the API shows for an uploaded voice

VOICE_NAME_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")
_MAX_NAME_FIELD_BYTES = 1024


async def _limited(request: Request, limit: int) -> AsyncIterator[bytes]:
    """The request body, raising 413 as soon as more than `limit` bytes came."""
    received = 0
    async for part in request.stream():
        received += len(part)
        if received > limit:
            raise _too_large(limit)
        yield part


def _too_large(limit: int) -> ApiError:
    return ApiError(413, f"upload over {limit} bytes: send a shorter recording", param="file", code="upload_too_large")


async def read_upload(request: Request, max_bytes: int) -> tuple[str, bytes]:
    """The `name` field and the `file` field's bytes of a `multipart/form-data` upload.

    Raises:
        ApiError: 413 over `max_bytes` (declared or sent); 400 for another content type, a malformed body, or a
            missing or invalid name or file.
    """
    if not request.headers.get("content-type", "").startswith("multipart/form-data"):
        raise ApiError(400, "send the recording as multipart/form-data with fields 'name' and 'file'")
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > max_bytes:
        raise _too_large(max_bytes)
    parser = MultiPartParser(
        request.headers, _limited(request, max_bytes), max_files=1, max_fields=1, max_part_size=_MAX_NAME_FIELD_BYTES
    )
    try:
        form = await parser.parse()
    except MultiPartException as error:
        raise ApiError(400, f"malformed multipart upload: {error.message}") from None
    name, upload = form.get("name"), form.get("file")
    if not isinstance(name, str) or not VOICE_NAME_PATTERN.fullmatch(name):
        raise ApiError(400, f"'name' must be 1 to 64 letters, digits, '_', '.' or '-', got {name!r}", param="name")
    if not isinstance(upload, UploadFile):
        raise ApiError(400, "'file' is missing: attach the recording as a file field", param="file")
    data = await upload.read()
    await upload.close()
    if not data:
        raise ApiError(400, "'file' is empty", param="file")
    return name, data


def clone_upload(cloner: VoiceCloner, data: bytes, max_seconds: float) -> ClonedVoice:
    """Decode an uploaded recording (mono by averaging channels) and clone it; runs in a worker thread.

    Raises:
        ApiError: 413 for a recording longer than `max_seconds` (checked from its header); 400 for a file soundfile
            cannot read, or one the cloner refuses (silent, too short, too little speech).
    """
    try:
        info = sf.info(io.BytesIO(data))
        if info.frames > max_seconds * info.samplerate:
            raise ApiError(
                413,
                f"the recording is {info.duration:.1f} s long; this server accepts at most {max_seconds:g} s",
                param="file",
                code="upload_too_long",
            )
        audio, sampling_rate = sf.read(io.BytesIO(data), dtype="float32", always_2d=True)
    except sf.LibsndfileError as error:
        raise ApiError(400, f"'file' is not audio this server can read: {error}", param="file") from None
    try:
        return cloner(audio.mean(axis=1), int(sampling_rate))
    except ValueError as error:
        raise ApiError(400, str(error), param="file") from None


class VoiceUploads:
    """The uploaded voices of one server: cloned from uploads, added to (and replaced in) its voice table.

    Args:
        cloner: Makes voices for the server's Bark model.
        voices: The server's voice table (name -> preset), changed in place.
        max_bytes: Largest upload read (413 beyond).
        max_seconds: Longest recording cloned (413 beyond).
        max_voices: How many uploaded voices are kept (409 beyond; a name uploaded again replaces its voice).
    """

    def __init__(
        self, cloner: VoiceCloner, voices: dict[str, Any], *, max_bytes: int, max_seconds: float, max_voices: int
    ):
        self.cloner, self.voices = cloner, voices
        self.max_bytes, self.max_seconds, self.max_voices = max_bytes, max_seconds, max_voices
        self.names: set[str] = set()

    async def register(self, request: Request) -> dict[str, Any]:
        """Read the upload, clone it off the event loop, add it; returns the voice and the part of it used.

        Raises:
            ApiError: As `read_upload` and `clone_upload`; 409 for a name of the model's voices or one voice too many.
        """
        name, data = await read_upload(request, self.max_bytes)
        if name in self.voices and name not in self.names:
            raise ApiError(409, f"'{name}' is a voice of the model: pick another name", param="name")
        if name not in self.names and len(self.names) >= self.max_voices:
            raise ApiError(409, f"this server keeps at most {self.max_voices} uploaded voices")
        voice = await asyncio.to_thread(clone_upload, self.cloner, data, self.max_seconds)
        self.voices[name] = voice.as_preset()
        self.names.add(name)
        window = voice.window
        return {
            "id": name,
            "name": name,
            "preset": UPLOADED,
            "window": {"start": window.start, "seconds": window.seconds, "speech_seconds": window.speech_seconds},
            "semantic_tokens": int(voice.semantic_prompt.shape[0]),
            "frames": int(voice.fine_prompt.shape[1]),
        }
