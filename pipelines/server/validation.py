"""The speech request's validation, without HTTP: body bytes -> `SpeechRequest` -> a `CheckedSpeech` the service runs.

`parse_speech_request` turns the raw JSON body into the schema's `SpeechRequest` (syntax and field types); `validate`
applies the checks that need the loaded model and the server's limits (`SpeechCapabilities`). Both raise `ApiError`
with OpenAI's error shape, so a route only has to let them through.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError

from ..speech.checks import check_text
from .formats import FORMATS
from .schemas import ApiError, SpeechRequest

__all__ = ["CheckedSpeech", "SpeechCapabilities", "parse_speech_request", "validate"]


@dataclass(frozen=True)
class SpeechCapabilities:
    """What this server can speak: what `validate` checks a request against.

    Attributes:
        voices: Voice name -> Bark preset (a name, `None` for no prompt, or an uploaded voice's arrays); the live table,
            which voice uploads extend.
        formats: The response formats this libsndfile writes.
        decoders: The decoders the loaded models offer ("vocos" only with a vocoder).
        max_input_chars: Longest `input` accepted, in characters (413 beyond).
    """

    voices: Mapping[str, Any]
    formats: tuple[str, ...]
    decoders: tuple[str, ...]
    max_input_chars: int


@dataclass(frozen=True)
class CheckedSpeech:
    """A speech request that passed every check: what the speech service hands to the worker.

    Attributes:
        text: The text to speak (non-empty, within the input limit).
        voice_name: The voice's name as the client gave it.
        preset: Its Bark preset (a name, `None`, or an uploaded voice's arrays).
        response_format: One of the server's writable formats.
        decoder: One of the server's decoders.
        seed: The client's seed, or `None` (the pipeline draws one and reports it).
    """

    text: str
    voice_name: str
    preset: Any
    response_format: str
    decoder: str
    seed: int | None


def parse_speech_request(body: bytes) -> SpeechRequest:
    """The body of `POST /v1/audio/speech` as a `SpeechRequest`.

    Raises:
        ApiError: 400 for a body that is not JSON, not a JSON object, or fails the schema (naming the first bad field).
    """
    try:
        data = json.loads(body)
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise ApiError(400, f"the request body is not valid JSON: {error}") from None
    except ValueError:  # Python's limit on the digits of an integer (4300): no field takes such a number
        raise ApiError(
            400, "the request body holds an integer of thousands of digits: 'seed' takes 0 to 2**64-1"
        ) from None
    if not isinstance(data, dict):
        raise ApiError(400, f"the request body must be a JSON object, got {type(data).__name__}")
    try:
        return SpeechRequest.model_validate(data)
    except ValidationError as error:
        first = error.errors()[0]
        param = ".".join(str(part) for part in first["loc"]) or None
        raise ApiError(400, f"'{param}': {first['msg']}", param=param) from None


def validate(speech: SpeechRequest, capabilities: SpeechCapabilities) -> CheckedSpeech:
    """The checks that need the model and the server's limits, in a fixed order; returns the checked request.

    Raises:
        ApiError: 400 for empty or unusable input, an unknown voice, format or decoder, or an unsupported option
            (speed, instructions, sse); 413 for input over `capabilities.max_input_chars`.
    """
    _check_input(speech.input, capabilities.max_input_chars)
    voices, formats, decoders = capabilities.voices, capabilities.formats, capabilities.decoders
    if speech.voice_name not in voices:
        raise ApiError(400, f"unknown voice '{speech.voice_name}': use one of {list(voices)}", param="voice")
    if speech.response_format not in formats:
        unsupported = " (this libsndfile cannot write it)" if speech.response_format in FORMATS else ""
        raise ApiError(
            400,
            f"unsupported response_format '{speech.response_format}'{unsupported}: use one of {list(formats)}",
            param="response_format",
        )
    if speech.speed != 1.0:
        raise ApiError(
            400, f"speed {speech.speed} is not supported: Bark speaks at its own pace, use 1.0", param="speed"
        )
    if speech.instructions:
        raise ApiError(400, "'instructions' are not supported by Bark: leave them out", param="instructions")
    if speech.stream_format != "audio":
        raise ApiError(400, "stream_format 'sse' is not supported: use 'audio'", param="stream_format")
    if speech.decoder not in decoders:
        raise ApiError(400, f"decoder '{speech.decoder}' needs a vocoder: use one of {list(decoders)}", param="decoder")
    return CheckedSpeech(
        text=speech.input,
        voice_name=speech.voice_name,
        preset=voices[speech.voice_name],
        response_format=speech.response_format,
        decoder=speech.decoder,
        seed=speech.seed,
    )


def _check_input(text: str, max_chars: int) -> None:
    """400 for input with nothing to speak or characters the pipeline refuses; 413 over `max_chars` characters."""
    if not text.strip():
        raise ApiError(400, "'input' is empty or only whitespace: give some words to speak", param="input")
    try:
        check_text(text, "'input'")
    except ValueError as error:
        raise ApiError(400, str(error), param="input") from None
    if len(text) > max_chars:
        raise ApiError(
            413,
            f"'input' has {len(text)} characters; this server accepts at most {max_chars}",
            param="input",
            code="input_too_long",
        )
