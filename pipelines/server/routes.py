"""The speech server's routes: OpenAI's `/v1/...` endpoints behind the API-key dependency, then health and the page.

Routes only read HTTP (headers, the size-limited body) and hand the rest to `validation` and the `SpeechService`.
"""

from __future__ import annotations

import secrets
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, Response

from .config import ServerSettings
from .formats import MEDIA_TYPES
from .schemas import ApiError, error_responses
from .service import SpeechService
from .validation import parse_speech_request, validate

__all__ = ["PAGE", "api_key_dependency", "api_router", "page_router", "read_body"]

PAGE = Path(__file__).parent / "static" / "index.html"

_AUDIO_CONTENT = {media_type: {"schema": {"type": "string", "format": "binary"}} for media_type in MEDIA_TYPES.values()}


def api_key_dependency(api_key: str | None) -> Callable[[Request], Awaitable[None]]:
    """A FastAPI dependency that lets a request through only with `Authorization: Bearer <api_key>` (any, if `None`).

    Raises (from the dependency):
        ApiError: 401 for a missing or wrong key.
    """

    async def check_key(request: Request) -> None:
        if api_key is None:
            return
        header = request.headers.get("authorization", "")
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise ApiError(401, "missing API key: send 'Authorization: Bearer KEY'", code="invalid_api_key")
        if not secrets.compare_digest(token.strip().encode(), api_key.encode()):
            raise ApiError(401, "incorrect API key provided", code="invalid_api_key")

    return check_key


async def read_body(request: Request, settings: ServerSettings) -> bytes:
    """The request body, read at most `settings.max_body_bytes` far (413 as soon as it is declared or sent larger)."""
    limit = settings.max_body_bytes
    too_large = ApiError(
        413,
        f"request body over {limit} bytes: input is limited to {settings.max_input_chars} characters",
        param="input",
        code="input_too_long",
    )
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise too_large
    body = bytearray()
    async for part in request.stream():
        body += part
        if len(body) > limit:
            raise too_large
    return bytes(body)


def api_router(service: SpeechService) -> APIRouter:
    """OpenAI's endpoints over `service`: speech, models, voices (list and upload), each behind the key check."""
    router = APIRouter(dependencies=[Depends(api_key_dependency(service.settings.api_key))])

    @router.post(
        "/v1/audio/speech",
        response_model=None,
        responses={
            200: {"description": "the audio, in the requested format", "content": _AUDIO_CONTENT},
            **error_responses(400, 401, 413, 422, 429, 500, 503),
        },
    )
    async def speech(request: Request) -> Response:
        speech_request = parse_speech_request(await read_body(request, service.settings))
        return await service.speak(validate(speech_request, service.capabilities), request.is_disconnected)

    @router.get("/v1/models", responses=error_responses(401, 500))
    async def models(request: Request) -> dict[str, Any]:
        return service.models()

    @router.get("/v1/audio/voices", responses=error_responses(401, 500))
    async def list_voices(request: Request) -> dict[str, Any]:
        return service.voices()

    @router.post("/v1/audio/voices", status_code=201, responses=error_responses(400, 401, 403, 409, 413, 500))
    async def upload_voice(request: Request) -> dict[str, Any]:
        if service.uploads is None:
            raise ApiError(
                403, "voice upload is off: start the server with --allow-voice-upload", code="voice_upload_disabled"
            )
        return await service.uploads.register(request)

    return router


def page_router(service: SpeechService) -> APIRouter:
    """The open endpoints: `/health` (queue state) and the listening page at `/`."""
    router = APIRouter()

    @router.get("/health")
    async def health() -> dict[str, Any]:
        return service.health()

    @router.get("/", response_class=HTMLResponse)
    async def page() -> HTMLResponse:
        return HTMLResponse(PAGE.read_text(encoding="utf-8"))

    return router
