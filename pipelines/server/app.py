"""The speech server's FastAPI app: OpenAI's `POST /v1/audio/speech`, models, voices, health, and a listening page.

```python
from pipelines import TextToWavPipeline
from pipelines.server import ServerSettings, create_app

app = create_app(TextToWavPipeline.from_pretrained(), ServerSettings(api_key="secret", max_queue=4))
```
"""

from __future__ import annotations

import asyncio
import json
import logging
import secrets
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from fastapi import FastAPI, Request
from fastapi.openapi.utils import get_openapi
from fastapi.responses import HTMLResponse, JSONResponse, Response, StreamingResponse
from pydantic import ValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException

from ..checks import check_text
from .formats import FORMATS, MEDIA_TYPES, STREAMED_FORMATS, encode_file, to_pcm16, wav_stream_header, writable_formats
from .schemas import (
    ApiError,
    SpeechRequest,
    document_speech_request,
    document_voice_upload,
    error_body,
    error_responses,
)
from .uploads import UPLOADED, VOICE_NAME_PATTERN, VoiceUploads
from .voices import OPENAI_VOICES, voice_table
from .worker import GenerationWorker, JobEvent, QueueFullError, SpeechJob

if TYPE_CHECKING:
    from ..text_to_wav import TextToWavPipeline
    from ..voice_cloning import VoiceCloner

__all__ = ["MODEL_ID", "ServerSettings", "create_app"]

logger = logging.getLogger(__name__)

MODEL_ID = "bark-vocos"
PAGE = Path(__file__).parent / "static" / "index.html"
DISCONNECT_POLL_SECONDS = 0.25  # how often a request waiting for its first audio checks that its client is still there
JSON_BYTES_PER_CHAR = 12  # a JSON string spends at most 12 bytes on one character (a \uXXXX\uXXXX surrogate pair)
JSON_OVERHEAD_BYTES = 64 * 1024  # room for the other fields


@dataclass
class ServerSettings:
    """How the speech server answers.

    Attributes:
        api_key: When set, every `/v1/...` request needs `Authorization: Bearer <api_key>` (401 otherwise).
        max_queue: Requests that may wait while one generates; more get 503 with `Retry-After`.
        max_input_chars: Longest `input` accepted, in characters (413 beyond; OpenAI's limit is 4096).
        voice_aliases: Extra voice names -> Bark preset (default: OpenAI's six voice names, see `voices.OPENAI_VOICES`).
        generation_kwargs: Extra keyword options of every pipeline call (e.g. `{"max_chunk_tokens": 24}`).
        max_upload_bytes: Largest recording `POST /v1/audio/voices` reads (413 beyond).
        max_upload_seconds: Longest recording it clones (413 beyond).
        max_uploaded_voices: How many uploaded voices the server keeps (409 beyond; a name may be uploaded again).
    """

    api_key: str | None = None
    max_queue: int = 4
    max_input_chars: int = 4096
    voice_aliases: dict[str, str] = field(default_factory=lambda: dict(OPENAI_VOICES))
    generation_kwargs: dict[str, Any] = field(default_factory=dict)
    max_upload_bytes: int = 20 * 1024 * 1024
    max_upload_seconds: float = 120.0
    max_uploaded_voices: int = 32

    def __post_init__(self) -> None:
        for name in ("max_upload_bytes", "max_upload_seconds", "max_uploaded_voices"):
            if not getattr(self, name) > 0:
                raise ValueError(f"{name} must be > 0, got {getattr(self, name)}")
        if self.max_queue < 1:
            raise ValueError(f"max_queue must be >= 1, got {self.max_queue}")
        if self.max_input_chars < 1:
            raise ValueError(f"max_input_chars must be >= 1, got {self.max_input_chars}")
        if self.api_key is not None and not self.api_key.strip():
            raise ValueError("api_key is empty: give a key or none")

    @property
    def max_body_bytes(self) -> int:
        """Largest request body read: enough for `max_input_chars` characters in any JSON spelling."""
        return self.max_input_chars * JSON_BYTES_PER_CHAR + JSON_OVERHEAD_BYTES


def shown(preset: Any) -> str | None:
    """A voice's preset as the API shows it: its name, `None` (no prompt), or "uploaded" for an uploaded voice."""
    return preset if preset is None or isinstance(preset, str) else UPLOADED


def _pipeline_chunks(pipe: TextToWavPipeline) -> Any:
    """The worker's generation function: `pipe.stream`, whose `AudioChunk`s concatenate to `pipe(...).audio`."""

    def generate(text: str, options: dict[str, Any]) -> Iterator[Any]:
        return pipe.stream(text, progress=False, **options)

    return generate


def _random_weights(pipe: TextToWavPipeline) -> bool:
    """Whether the loaded Bark or vocoder came from a folder marked as random weights (`make-tiny`)."""
    from bark_vocos.tiny import is_random_checkpoint

    models = (pipe.bark, pipe.vocoder)
    return any(is_random_checkpoint(str(getattr(m, "name_or_path", "") or "")) for m in models if m is not None)


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
    settings = settings or ServerSettings()
    voices: dict[str, Any] = dict(voice_table(pipe.available_voice_presets, settings.voice_aliases))
    uploads = None
    if cloner is not None:
        limits = {"max_seconds": settings.max_upload_seconds, "max_voices": settings.max_uploaded_voices}
        uploads = VoiceUploads(cloner, voices, max_bytes=settings.max_upload_bytes, **limits)
    formats = writable_formats()
    decoders = ("vocos", "encodec") if pipe.vocoder is not None else ("encodec",)
    worker = GenerationWorker(_pipeline_chunks(pipe), settings.max_queue)
    random_weights = _random_weights(pipe)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        worker.start()
        try:
            yield
        finally:
            await asyncio.to_thread(worker.stop)

    app = FastAPI(title="bark-vocos speech server", lifespan=lifespan, docs_url="/docs", redoc_url=None)
    app.state.worker = worker
    app.state.settings = settings
    started = int(time.time())

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

    def check_key(request: Request) -> None:
        if settings.api_key is None:
            return
        header = request.headers.get("authorization", "")
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise ApiError(401, "missing API key: send 'Authorization: Bearer KEY'", code="invalid_api_key")
        if not secrets.compare_digest(token.strip().encode(), settings.api_key.encode()):
            raise ApiError(401, "incorrect API key provided", code="invalid_api_key")

    async def read_body(request: Request) -> bytes:
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

    def parse(body: bytes) -> SpeechRequest:
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

    def check(speech: SpeechRequest) -> Any:
        """Checks that need the model and settings; returns the voice's Bark preset (a name, None, or arrays)."""
        text = speech.input
        if not text.strip():
            raise ApiError(400, "'input' is empty or only whitespace: give some words to speak", param="input")
        try:
            check_text(text, "'input'")
        except ValueError as error:
            raise ApiError(400, str(error), param="input") from None
        if len(text) > settings.max_input_chars:
            raise ApiError(
                413,
                f"'input' has {len(text)} characters; this server accepts at most {settings.max_input_chars}",
                param="input",
                code="input_too_long",
            )
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
            raise ApiError(
                400, f"decoder '{speech.decoder}' needs a vocoder: use one of {list(decoders)}", param="decoder"
            )
        return voices[speech.voice_name]

    async def next_event(job: SpeechJob, request: Request) -> JobEvent | None:
        """The job's next event, or `None` (job cancelled) when the client disconnects first."""
        while True:
            try:
                return await asyncio.wait_for(job.events.get(), DISCONNECT_POLL_SECONDS)
            except TimeoutError:
                if await request.is_disconnected():
                    worker.cancel(job)
                    return None

    def failure(event: JobEvent) -> ApiError:
        if isinstance(event.error, ValueError | TypeError):
            return ApiError(400, str(event.error))
        return ApiError(500, "speech generation failed (details in the server log)", "server_error")

    audio_content = {
        media_type: {"schema": {"type": "string", "format": "binary"}} for media_type in MEDIA_TYPES.values()
    }

    @app.post(
        "/v1/audio/speech",
        response_model=None,
        responses={
            200: {"description": "the audio, in the requested format", "content": audio_content},
            **error_responses(400, 401, 413, 422, 429, 500, 503),
        },
    )
    async def speech(request: Request) -> Response:
        check_key(request)
        speech_request = parse(await read_body(request))
        preset = check(speech_request)
        options = {
            **settings.generation_kwargs,
            "voice_preset": preset,
            "seed": speech_request.seed,  # None: the pipeline draws one and reports it in each chunk
            "decoder": speech_request.decoder,
        }
        job = SpeechJob(speech_request.input, options, asyncio.get_running_loop())
        try:
            worker.submit(job)
        except QueueFullError as error:
            raise ApiError(
                503, str(error), "server_busy", code="queue_full", headers={"Retry-After": str(error.retry_after)}
            ) from None
        try:
            return await respond(job, request, speech_request.response_format, preset)
        except BaseException:
            worker.cancel(job)  # whatever went wrong, the worker must not go on with a request nobody reads
            raise

    async def respond(job: SpeechJob, request: Request, response_format: str, preset: Any) -> Response:
        """The response of a queued job: streamed for wav/pcm, the whole file for the others."""
        first = await next_event(job, request)
        if first is None:
            return Response(status_code=499)  # the client is gone; nobody reads this
        if first.kind == "error":
            raise failure(first)
        headers = {"X-Seed": str(first.chunk.seed), "X-Voice-Preset": str(shown(preset))}

        if response_format in STREAMED_FORMATS:

            async def stream() -> AsyncIterator[bytes]:
                try:
                    if response_format == "wav":
                        yield wav_stream_header(first.chunk.sampling_rate)
                    event = first
                    while event.kind == "chunk":
                        yield to_pcm16(event.chunk.audio).tobytes()
                        event = await job.events.get()
                    if event.kind == "error":  # after the headers: the client sees a cut-off body
                        raise RuntimeError("speech generation failed in mid-stream") from event.error
                finally:
                    worker.cancel(job)  # a client that left (the task is cancelled) stops its generation

            return StreamingResponse(stream(), media_type=MEDIA_TYPES[response_format], headers=headers)

        chunks = []
        event = first
        while event.kind == "chunk":
            chunks.append(event.chunk.audio)
            event = await next_event(job, request)
            if event is None:
                return Response(status_code=499)
        if event.kind == "error":
            raise failure(event)
        # encoded off the event loop, so that other requests (and /health) are answered meanwhile
        audio = np.concatenate(chunks)
        content = await asyncio.to_thread(encode_file, audio, first.chunk.sampling_rate, response_format)
        return Response(content, media_type=MEDIA_TYPES[response_format], headers=headers)

    @app.get("/v1/models", responses=error_responses(401, 500))
    async def models(request: Request) -> dict[str, Any]:
        check_key(request)
        return {
            "object": "list",
            "data": [{"id": MODEL_ID, "object": "model", "created": started, "owned_by": MODEL_ID}],
        }

    @app.get("/v1/audio/voices", responses=error_responses(401, 500))
    async def list_voices(request: Request) -> dict[str, Any]:
        check_key(request)
        return {
            "voices": [{"id": name, "name": name, "preset": shown(preset)} for name, preset in voices.items()],
            "formats": list(formats),
            "decoders": list(decoders),
            "voice_upload": uploads is not None,
        }

    @app.post("/v1/audio/voices", status_code=201, responses=error_responses(400, 401, 403, 409, 413, 500))
    async def upload_voice(request: Request) -> dict[str, Any]:
        check_key(request)
        if uploads is None:
            raise ApiError(
                403, "voice upload is off: start the server with --allow-voice-upload", code="voice_upload_disabled"
            )
        return await uploads.register(request)

    @app.get("/health")
    async def health() -> dict[str, Any]:
        return {
            "status": "ok",
            "queue": worker.stats(),
            "auth": settings.api_key is not None,
            "random_weights": random_weights,  # the page warns: the audio is noise, not speech
        }

    @app.get("/", response_class=HTMLResponse)
    async def page() -> HTMLResponse:
        return HTMLResponse(PAGE.read_text(encoding="utf-8"))

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = get_openapi(title=app.title, version=app.version, routes=app.routes)
            document_speech_request(
                schema, "/v1/audio/speech", list(voices), list(formats), list(decoders), settings.max_input_chars
            )
            app.openapi_schema = document_voice_upload(schema, "/v1/audio/voices", VOICE_NAME_PATTERN.pattern)
        return app.openapi_schema

    app.openapi = openapi
    return app
