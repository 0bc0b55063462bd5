"""The speech server's FastAPI app: OpenAI's `POST /v1/audio/speech`, models, voices, health, and a listening page.

```python
from pipelines import TextToWavPipeline
from pipelines.server import ServerSettings, create_app

app = create_app(TextToWavPipeline.from_pretrained(), ServerSettings(api_key="secret", max_queue=4))
```

The layers, as vLLM's: `schemas` (request body, error shapes) -> `validation` (a checked request, no HTTP) ->
`service` (the worker and the responses) -> `routes` (an `APIRouter`, the key check a dependency) -> this app.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any

from fastapi import FastAPI, Request
from fastapi.openapi.utils import get_openapi
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from .config import ServerSettings
from .routes import api_router, page_router
from .schemas import ApiError, document_speech_request, document_voice_upload, error_body
from .service import MODEL_ID, SpeechService, shown
from .uploads import VOICE_NAME_PATTERN

if TYPE_CHECKING:
    from ..speech.text_to_wav import TextToWavPipeline
    from ..speech.voice_cloning import VoiceCloner

__all__ = ["MODEL_ID", "ServerSettings", "create_app", "shown"]

logger = logging.getLogger(__name__)


def create_app(
    pipe: TextToWavPipeline, settings: ServerSettings | None = None, cloner: VoiceCloner | None = None
) -> FastAPI:
    """The FastAPI app serving `pipe`; its lifespan starts and stops the one generation worker.

    Args:
        pipe: A loaded pipeline; only the worker thread calls it.
        settings: Key, queue and input limits, voice aliases; default `ServerSettings()`.
        cloner: When given, `POST /v1/audio/voices` clones uploaded recordings into voices (made for `pipe`'s Bark
            model); without it uploads get 403.

    Raises:
        ValueError: Voice aliases that clash with the model's preset names.
    """
    service = SpeechService(pipe, settings or ServerSettings(), cloner)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        service.worker.start()
        try:
            yield
        finally:
            await asyncio.to_thread(service.worker.stop)

    app = FastAPI(title="bark-vocos speech server", lifespan=lifespan, docs_url="/docs", redoc_url=None)
    app.state.worker = service.worker
    app.state.settings = service.settings
    app.state.service = service
    add_error_handlers(app)
    app.include_router(api_router(service))
    app.include_router(page_router(service))

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = document(get_openapi(title=app.title, version=app.version, routes=app.routes), service)
        return app.openapi_schema

    app.openapi = openapi
    return app


def add_error_handlers(app: FastAPI) -> None:
    """Answer every error with OpenAI's error JSON; an unexpected one is a 500 whose details go to the log only."""

    @app.exception_handler(ApiError)
    async def api_error(request: Request, error: ApiError) -> JSONResponse:
        return JSONResponse(error.body, status_code=error.status, headers=error.headers)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, error: StarletteHTTPException) -> JSONResponse:
        return JSONResponse(
            error_body(str(error.detail), "invalid_request_error"), status_code=error.status_code, headers=error.headers
        )

    @app.exception_handler(Exception)
    async def server_error(request: Request, error: Exception) -> JSONResponse:
        logger.error("unexpected error on %s %s", request.method, request.url.path, exc_info=error)
        return JSONResponse(error_body("internal server error (details in the server log)", "server_error"), 500)


def document(schema: dict[str, Any], service: SpeechService) -> dict[str, Any]:
    """`schema` (the routes' OpenAPI) with the bodies the routes read themselves declared, narrowed to `service`."""
    capabilities = service.capabilities
    document_speech_request(
        schema,
        "/v1/audio/speech",
        list(capabilities.voices),
        list(capabilities.formats),
        list(capabilities.decoders),
        capabilities.max_input_chars,
    )
    return document_voice_upload(schema, "/v1/audio/voices", VOICE_NAME_PATTERN.pattern)
