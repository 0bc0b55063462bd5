"""Request bodies and OpenAI-shaped errors of the speech server."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictFloat, StrictInt, StrictStr

from ..defaults import DECODERS, MAX_SEED

__all__ = ["ApiError", "SpeechRequest", "VoiceObject", "error_body"]


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
    seed: StrictInt | None = Field(
        None,
        ge=0,
        le=MAX_SEED,
        description="bark-vocos: random seed, 0 to 2**64-1 (the X-Seed header reports the one used)",
    )
    decoder: Literal[DECODERS] = Field("vocos", description="bark-vocos: vocos (default) or encodec, for A/B")  # type: ignore[valid-type]

    @property
    def voice_name(self) -> str:
        """The voice as a name, whichever form it came in."""
        return self.voice if isinstance(self.voice, str) else self.voice.id


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
