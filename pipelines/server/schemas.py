"""Request bodies and OpenAI-shaped errors of the speech server."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictFloat, StrictInt, StrictStr, field_validator
from pydantic_core import PydanticCustomError

from ..defaults import DECODERS, MAX_SEED

__all__ = [
    "ApiError",
    "ErrorResponse",
    "SpeechRequest",
    "VoiceObject",
    "document_speech_request",
    "document_voice_upload",
    "error_body",
    "error_responses",
]


class VoiceObject(BaseModel):
    """OpenAI's voice object form, `{"id": NAME}`."""

    model_config = ConfigDict(extra="forbid")
    id: StrictStr


class SpeechRequest(BaseModel):
    """The body of `POST /v1/audio/speech`: OpenAI's fields, plus `seed` and `decoder`.

    Unknown fields are rejected (a misspelt `seed` must not silently give a random voice). Checks that need the loaded
    model (voice names, formats this libsndfile writes, the input limit) are the app's.
    """

    model_config = ConfigDict(extra="forbid")

    model: StrictStr = Field("bark-vocos", description="accepted and ignored: the server runs one Bark + Vocos model")
    input: StrictStr = Field(description="the text to speak")
    voice: StrictStr | VoiceObject = Field(description="a voice name from GET /v1/audio/voices")
    instructions: StrictStr | None = Field(None, description="not supported by Bark: must be empty when given")
    response_format: StrictStr = Field("mp3", description="mp3 (as OpenAI's default), opus, flac, wav or pcm")
    speed: StrictFloat | StrictInt = Field(1.0, description="1.0 only: Bark speaks at its own pace")
    stream_format: Literal["audio", "sse"] = Field("audio", description="audio only (sse is not supported)")
    seed: int | None = Field(
        None,
        ge=0,
        le=MAX_SEED,
        description="bark-vocos: random seed, 0 to 2**64-1 (the X-Seed header reports the one used)",
    )
    decoder: Literal[DECODERS] = Field("vocos", description="bark-vocos: vocos (default) or encodec, for A/B")  # type: ignore[valid-type]

    @field_validator("seed", mode="before")
    @classmethod
    def _whole_number(cls, value: Any) -> Any:
        """JSON's integers: `7` and `7.0` (JSON Schema counts both as integers), not `7.5`, `"7"` or `true`."""
        if value is None or (isinstance(value, int) and not isinstance(value, bool)):
            return value
        if isinstance(value, float) and value.is_integer():
            return int(value)
        raise PydanticCustomError("int_type", "Input should be a valid integer (a whole number from 0 to 2**64-1)")

    @property
    def voice_name(self) -> str:
        """The voice as a name, whichever form it came in."""
        return self.voice if isinstance(self.voice, str) else self.voice.id


class ErrorDetail(BaseModel):
    """OpenAI's error object."""

    message: str
    type: str
    param: str | None
    code: str | None


class ErrorResponse(BaseModel):
    """Every error the server answers: OpenAI's `{"error": {...}}`."""

    error: ErrorDetail


# status -> when the server answers it (every one with OpenAI's error shape)
_ERRORS = {
    400: "a malformed or invalid request (the message names the field and the valid values)",
    401: "a missing or wrong API key (when the server runs with --api-key)",
    403: "voice upload is off (the server runs without --allow-voice-upload)",
    409: "an uploaded voice's name is taken by a model voice, or the server holds its most uploaded voices",
    413: "a body, 'input' or uploaded recording over the server's limit",
    422: "not used: FastAPI's validation error code, declared so that generated clients know the shape",
    429: "not used today: a rate limit would answer it, with Retry-After",
    500: "an unexpected failure (details in the server log)",
    503: "the queue is full: retry after the Retry-After header's seconds",
}


def error_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """FastAPI `responses=` for these statuses, each with `ErrorResponse` as its body."""
    return {status: {"model": ErrorResponse, "description": _ERRORS[status]} for status in statuses}


def document_speech_request(
    openapi: dict[str, Any], path: str, voices: list[str], formats: list[str], decoders: list[str], max_chars: int
) -> dict[str, Any]:
    """Declare `SpeechRequest` as the required JSON body of `POST path` in `openapi` (the route reads the body
    itself, so that a too-large body is refused before it is parsed), narrowed to what this server accepts: its
    voices, formats and decoders, an input with a non-space character of at most `max_chars`; returns `openapi`."""
    schema = SpeechRequest.model_json_schema(ref_template="#/components/schemas/{model}")
    fields = schema["properties"]
    fields["input"].update(minLength=1, maxLength=max_chars, pattern=r"\S")
    fields["voice"] = {"type": "string", "enum": voices, "description": fields["voice"].get("description", "")}
    fields["response_format"].update(enum=formats)
    fields["decoder"].update(enum=decoders)
    fields["speed"] = {"const": 1.0, "default": 1.0, "description": fields["speed"].get("description", "")}
    fields["instructions"] = {"anyOf": [{"type": "string", "maxLength": 0}, {"type": "null"}], "default": None}
    fields["stream_format"].update(enum=["audio"])
    schema.pop("$defs", None)  # VoiceObject: accepted too, but the enum of names is the documented form
    components = openapi.setdefault("components", {}).setdefault("schemas", {})
    components.update(schema.pop("$defs", {}))
    components["SpeechRequest"] = schema
    openapi["paths"][path]["post"]["requestBody"] = {
        "required": True,
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/SpeechRequest"}}},
    }
    return openapi


def document_voice_upload(openapi: dict[str, Any], path: str, name_pattern: str) -> dict[str, Any]:
    """Declare the multipart body of `POST path` in `openapi` (the route reads the body itself, so that a too-large
    upload is refused while it streams): a `name` matching `name_pattern` (a full match) and the recording as `file`;
    returns `openapi`."""
    openapi["paths"][path]["post"]["requestBody"] = {
        "required": True,
        "content": {
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "required": ["name", "file"],
                    "properties": {
                        "name": {"type": "string", "pattern": f"^{name_pattern}$", "description": "the voice's name"},
                        "file": {"type": "string", "format": "binary", "description": "the recording (WAV, FLAC...)"},
                    },
                }
            }
        },
    }
    return openapi


def error_body(message: str, type_: str, param: str | None = None, code: str | None = None) -> dict[str, Any]:
    """OpenAI's error JSON: `{"error": {"message", "type", "param", "code"}}`."""
    return {"error": {"message": message, "type": type_, "param": param, "code": code}}


class ApiError(Exception):
    """An error answered as OpenAI's error JSON with `status` (and optional extra headers such as Retry-After)."""

    def __init__(
        self,
        status: int,
        message: str,
        type_: str = "invalid_request_error",
        param: str | None = None,
        code: str | None = None,
        headers: dict[str, str] | None = None,
    ):
        super().__init__(message)
        self.status = status
        self.body = error_body(message, type_, param, code)
        self.headers = headers or {}
