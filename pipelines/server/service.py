"""The speech service: the one generation worker and what the routes ask of it (speak, list, health), without routing.

A route hands `SpeechService.speak` a `CheckedSpeech` (see `validation.validate`); the service queues it on the worker
and answers the audio: streamed for wav/pcm, the whole file for the other formats. A client that disconnects cancels
its job, waiting or running.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from typing import TYPE_CHECKING, Any

import numpy as np
from fastapi.responses import Response, StreamingResponse

from .config import ServerSettings
from .formats import MEDIA_TYPES, STREAMED_FORMATS, encode_file, to_pcm16, wav_stream_header, writable_formats
from .schemas import ApiError
from .uploads import UPLOADED, VoiceUploads
from .validation import CheckedSpeech, SpeechCapabilities
from .voices import voice_table
from .worker import GenerationWorker, JobEvent, QueueFullError, SpeechJob

if TYPE_CHECKING:
    from ..speech.text_to_wav import TextToWavPipeline
    from ..speech.voice_cloning import VoiceCloner

__all__ = ["DISCONNECT_POLL_SECONDS", "MODEL_ID", "SpeechService", "shown"]

MODEL_ID = "bark-vocos"
DISCONNECT_POLL_SECONDS = 0.25  # how often a request waiting for its first audio checks that its client is still there

Disconnected = Callable[[], Awaitable[bool]]  # whether the request's client has gone (Starlette's `is_disconnected`)


def shown(preset: Any) -> str | None:
    """A voice's preset as the API shows it: its name, `None` (no prompt), or "uploaded" for an uploaded voice."""
    return preset if preset is None or isinstance(preset, str) else UPLOADED


def pipeline_chunks(pipe: TextToWavPipeline) -> Any:
    """The worker's generation function: `pipe.stream`, whose `AudioChunk`s concatenate to `pipe(...).audio`."""

    def generate(text: str, options: dict[str, Any]) -> Iterator[Any]:
        return pipe.stream(text, progress=False, **options)

    return generate


def random_weights(pipe: TextToWavPipeline) -> bool:
    """Whether the loaded Bark or vocoder came from a folder marked as random weights (`make-tiny`)."""
    from bark_vocos.tiny import is_random_checkpoint

    models = (pipe.bark, pipe.vocoder)
    return any(is_random_checkpoint(str(getattr(m, "name_or_path", "") or "")) for m in models if m is not None)


class SpeechService:
    """The server's speech work around one `GenerationWorker` running `pipe`.

    Args:
        pipe: A loaded pipeline; only the worker thread calls it.
        settings: Queue and input limits, voice aliases, upload limits, extra generation options.
        cloner: When given, uploaded recordings are cloned into voices (`uploads`); else `uploads` is `None`.

    Raises:
        ValueError: Voice aliases that clash with the model's preset names.
    """

    def __init__(self, pipe: TextToWavPipeline, settings: ServerSettings, cloner: VoiceCloner | None = None):
        self.settings = settings
        voices: dict[str, Any] = dict(voice_table(pipe.available_voice_presets, settings.voice_aliases))
        self.uploads: VoiceUploads | None = None
        if cloner is not None:
            limits = {"max_seconds": settings.max_upload_seconds, "max_voices": settings.max_uploaded_voices}
            self.uploads = VoiceUploads(cloner, voices, max_bytes=settings.max_upload_bytes, **limits)
        decoders = ("vocos", "encodec") if pipe.vocoder is not None else ("encodec",)
        self.capabilities = SpeechCapabilities(voices, writable_formats(), decoders, settings.max_input_chars)
        self.worker = GenerationWorker(pipeline_chunks(pipe), settings.max_queue)
        self.random_weights = random_weights(pipe)
        self.started = int(time.time())

    async def speak(self, speech: CheckedSpeech, disconnected: Disconnected) -> Response:
        """Queue `speech` on the worker and answer its audio (status 499 once the client has gone).

        Raises:
            ApiError: 503 (with Retry-After) when the queue is full; 400 or 500 when the generation fails before the
                first chunk.
        """
        options = {
            **self.settings.generation_kwargs,
            "voice_preset": speech.preset,
            "seed": speech.seed,  # None: the pipeline draws one and reports it in each chunk
            "decoder": speech.decoder,
        }
        job = SpeechJob(speech.text, options, asyncio.get_running_loop())
        try:
            self.worker.submit(job)
        except QueueFullError as error:
            raise ApiError(
                503, str(error), "server_busy", code="queue_full", headers={"Retry-After": str(error.retry_after)}
            ) from None
        try:
            return await self._respond(job, disconnected, speech.response_format, speech.preset)
        except BaseException:
            self.worker.cancel(job)  # whatever went wrong, the worker must not go on with a request nobody reads
            raise

    async def _respond(self, job: SpeechJob, disconnected: Disconnected, response_format: str, preset: Any) -> Response:
        """The response of a queued job: streamed for wav/pcm, the whole file for the others."""
        first = await self._next_event(job, disconnected)
        if first is None:
            return Response(status_code=499)  # the client is gone; nobody reads this
        if first.kind == "error":
            raise _failure(first)
        headers = {"X-Seed": str(first.chunk.seed), "X-Voice-Preset": str(shown(preset))}
        if response_format in STREAMED_FORMATS:
            stream = self._stream(job, first, response_format)
            return StreamingResponse(stream, media_type=MEDIA_TYPES[response_format], headers=headers)
        chunks = []
        event = first
        while event.kind == "chunk":
            chunks.append(event.chunk.audio)
            event = await self._next_event(job, disconnected)
            if event is None:
                return Response(status_code=499)
        if event.kind == "error":
            raise _failure(event)
        # encoded off the event loop, so that other requests (and /health) are answered meanwhile
        audio = np.concatenate(chunks)
        content = await asyncio.to_thread(encode_file, audio, first.chunk.sampling_rate, response_format)
        return Response(content, media_type=MEDIA_TYPES[response_format], headers=headers)

    async def _stream(self, job: SpeechJob, first: JobEvent, response_format: str) -> AsyncIterator[bytes]:
        """The body of a streamed response: a wav header (for wav), then each chunk's 16-bit samples as they come."""
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
            self.worker.cancel(job)  # a client that left (the task is cancelled) stops its generation

    async def _next_event(self, job: SpeechJob, disconnected: Disconnected) -> JobEvent | None:
        """The job's next event, or `None` (job cancelled) when the client disconnects first."""
        while True:
            try:
                return await asyncio.wait_for(job.events.get(), DISCONNECT_POLL_SECONDS)
            except TimeoutError:
                if await disconnected():
                    self.worker.cancel(job)
                    return None

    def models(self) -> dict[str, Any]:
        """OpenAI's model list: the one model this server runs."""
        return {
            "object": "list",
            "data": [{"id": MODEL_ID, "object": "model", "created": self.started, "owned_by": MODEL_ID}],
        }

    def voices(self) -> dict[str, Any]:
        """The voices (name and shown preset), formats and decoders this server offers, and whether it takes uploads."""
        capabilities = self.capabilities
        return {
            "voices": [{"id": name, "name": name, "preset": shown(p)} for name, p in capabilities.voices.items()],
            "formats": list(capabilities.formats),
            "decoders": list(capabilities.decoders),
            "voice_upload": self.uploads is not None,
        }

    def health(self) -> dict[str, Any]:
        """Liveness: the queue's state, whether a key is needed, and whether the weights are random (noise)."""
        return {
            "status": "ok",
            "queue": self.worker.stats(),
            "auth": self.settings.api_key is not None,
            "random_weights": self.random_weights,  # the page warns: the audio is noise, not speech
        }


def _failure(event: JobEvent) -> ApiError:
    """The error answer of a generation that failed before any audio: 400 for a caller's mistake, 500 otherwise."""
    if isinstance(event.error, ValueError | TypeError):
        return ApiError(400, str(event.error))
    return ApiError(500, "speech generation failed (details in the server log)", "server_error")
