"""The speech server's one generation thread, which owns the models, and the bounded first-in-first-out queue before it.

Bark is not thread-safe and uses every core, so requests never generate concurrently: each request becomes a
`SpeechJob`, waits in arrival order, and the worker thread runs it, posting audio chunks to the request's asyncio queue
as they are decoded. A job whose client left is cancelled: dropped if still waiting, stopped between chunks if running.
"""

from __future__ import annotations

import asyncio
import collections
import logging
import math
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

__all__ = ["ChunkGenerator", "GenerationWorker", "JobEvent", "QueueFullError", "SpeechJob"]

logger = logging.getLogger(__name__)

# (text, options) -> audio chunks in order, each with `audio` (float32 (T_i,)) and `sampling_rate` (the pipeline's
# AudioChunk or TextToWavOutput); closing the iterator early must stop the generation
ChunkGenerator = Callable[[str, dict[str, Any]], Iterator[Any]]


class QueueFullError(RuntimeError):
    """The queue holds `max_queue` waiting jobs; `retry_after` is an estimate, in whole seconds, of when to retry."""

    def __init__(self, max_queue: int, retry_after: int):
        super().__init__(f"the generation queue is full ({max_queue} waiting): retry in about {retry_after} s")
        self.retry_after = retry_after


@dataclass
class JobEvent:
    """What the worker posts to a job's `events` queue: `kind` "chunk" (with `chunk`, which has `audio (T,)` and
    `sampling_rate`), "done", or "error" (with `error`)."""

    kind: str
    chunk: Any = None
    error: BaseException | None = None


@dataclass
class SpeechJob:
    """One request's generation: its text and pipeline options, and where the worker posts its events.

    Attributes:
        text: The text to speak.
        options: Keyword options of the pipeline call (voice_preset, seed, decoder, ...).
        loop: The event loop of the request, which reads `events`.
        events: `JobEvent`s in order: chunks, then one "done" or "error".
    """

    text: str
    options: dict[str, Any]
    loop: asyncio.AbstractEventLoop
    events: asyncio.Queue = field(default_factory=asyncio.Queue)
    cancelled: threading.Event = field(default_factory=threading.Event)

    def post(self, event: JobEvent) -> None:
        """Hand `event` to the request's event loop (called from the worker thread)."""
        try:
            self.loop.call_soon_threadsafe(self.events.put_nowait, event)
        except RuntimeError:  # the loop is closed: the server is shutting down and nobody reads this job any more
            pass


class GenerationWorker:
    """A thread that runs `SpeechJob`s one at a time, in arrival order, from a queue of at most `max_queue` waiting.

    Args:
        generate: Turns a job's text and options into audio chunks; runs only on the worker thread.
        max_queue: Jobs that may wait while one runs; `submit` raises `QueueFullError` beyond that.
    """

    def __init__(self, generate: ChunkGenerator, max_queue: int):
        if max_queue < 1:
            raise ValueError(f"max_queue must be >= 1, got {max_queue}")
        self.generate = generate
        self.max_queue = max_queue
        self._waiting: collections.deque[SpeechJob] = collections.deque()
        self._condition = threading.Condition()
        self._running: SpeechJob | None = None
        self._stopping = False
        self._thread: threading.Thread | None = None
        self._seconds: collections.deque[float] = collections.deque(maxlen=20)  # recent job durations
        self.counts = {"completed": 0, "cancelled": 0, "failed": 0, "rejected": 0}

    def start(self) -> None:
        """Start the worker thread."""
        if self._thread is not None:
            raise RuntimeError("the generation worker is already running")
        self._stopping = False
        self._thread = threading.Thread(target=self._run, name="bark-vocos-generation", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 30.0) -> None:
        """Cancel every job and stop the thread once the running job has reached its next chunk."""
        with self._condition:
            self._stopping = True
            for job in [*self._waiting, *([self._running] if self._running else [])]:
                job.cancelled.set()
            self._condition.notify_all()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None

    def submit(self, job: SpeechJob) -> None:
        """Queue `job` behind the ones waiting.

        Raises:
            QueueFullError: `max_queue` jobs are waiting already.
        """
        with self._condition:
            if self._stopping:
                raise RuntimeError("the server is shutting down")
            if len(self._waiting) >= self.max_queue:
                self.counts["rejected"] += 1
                raise QueueFullError(self.max_queue, self._retry_after())
            self._waiting.append(job)
            self._condition.notify_all()

    def cancel(self, job: SpeechJob) -> None:
        """Cancel `job`: removed from the queue if waiting, stopped before its next chunk if running; else nothing."""
        with self._condition:
            job.cancelled.set()
            if job in self._waiting:
                self._waiting.remove(job)
                self.counts["cancelled"] += 1

    def stats(self) -> dict[str, Any]:
        """Queue length, whether a job runs (and is stopping after a cancel), and the counts of finished jobs."""
        with self._condition:
            return {
                "waiting": len(self._waiting),
                "max_queue": self.max_queue,
                "busy": self._running is not None,
                "stopping": self._running is not None and self._running.cancelled.is_set(),  # cancelled, not yet out
                **self.counts,
            }

    def _retry_after(self) -> int:
        """Seconds until a queue slot is likely free: the mean recent job time (5 s before any), at least 1."""
        mean = sum(self._seconds) / len(self._seconds) if self._seconds else 5.0
        return max(1, math.ceil(mean))

    def _next_job(self) -> SpeechJob | None:
        with self._condition:
            while not self._waiting and not self._stopping:
                self._condition.wait()
            if self._stopping:
                return None
            self._running = self._waiting.popleft()
            return self._running

    def _run(self) -> None:
        while (job := self._next_job()) is not None:
            start = time.perf_counter()
            outcome = self._run_job(job)
            with self._condition:
                self._running = None
                self.counts[outcome] += 1
                if outcome == "completed":
                    self._seconds.append(time.perf_counter() - start)

    def _run_job(self, job: SpeechJob) -> str:
        """Generate `job`'s chunks, checking for cancellation before each; returns the outcome's `counts` key."""
        chunks = None
        try:
            if job.cancelled.is_set():
                return "cancelled"
            chunks = iter(self.generate(job.text, job.options))
            # cancellation is checked before each chunk is generated and before each is posted
            while not job.cancelled.is_set():
                chunk = next(chunks, None)
                if chunk is None:
                    job.post(JobEvent("done"))
                    return "completed"
                if not job.cancelled.is_set():
                    job.post(JobEvent("chunk", chunk=chunk))
            return "cancelled"
        except Exception as error:  # reported to the request; the worker lives on for the next one
            if not isinstance(error, ValueError | TypeError):
                logger.exception("generation failed")
            job.post(JobEvent("error", error=error))
            return "failed"
        finally:
            close = getattr(chunks, "close", None)
            if close is not None:
                close()  # leaving a generator early stops the generation it drives
