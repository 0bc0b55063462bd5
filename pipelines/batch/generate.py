"""One batch row, the same on every runner: load the pipeline once per worker, generate a row, write its file."""

from __future__ import annotations

import os
import shlex
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from ..defaults import BARK_MODEL, BATCH_SIZE, DEVICE, ENGINE, MAX_CHUNK_TOKENS, PAUSE_SECONDS, VOCODER_MODEL
from .manifest import RowTask, file_sha256

__all__ = ["BatchSettings", "RowGenerator", "model_location"]


@dataclass(frozen=True)
class BatchSettings:
    """What every worker of a job loads and how it generates (the same for every row).

    Attributes:
        bark: Bark hub id or local folder.
        vocoder: Vocos-EnCodec hub id or local folder (`None`: EnCodec decoding only).
        engine: How Bark's stages run (see `defaults.ENGINES`).
        device: `"cpu"`, `"cuda"`, `"cuda:N"` or `"auto"`.
        dtype: `None` (the checkpoints' dtype), `"float16"` or `"bfloat16"`.
        threads: torch CPU threads per worker; `None` leaves torch's default. The same audio bytes across runners
            need the same thread count (float sums may be ordered differently with more threads).
        max_chunk_tokens, pause_seconds, batch_size: As `TextToWavPipeline.__call__` (long-form texts).
    """

    bark: str = BARK_MODEL
    vocoder: str | None = VOCODER_MODEL
    engine: str = ENGINE
    device: str = DEVICE
    dtype: str | None = None
    threads: int | None = None
    max_chunk_tokens: int = MAX_CHUNK_TOKENS
    pause_seconds: float = PAUSE_SECONDS
    batch_size: int = BATCH_SIZE

    def to_dict(self) -> dict[str, Any]:
        """Plain values, to ship to a Ray worker."""
        return asdict(self)

    def recorded(self) -> dict[str, Any]:
        """What shapes a row's audio, as each manifest line records it: the models (local folders as absolute
        paths), engine, dtype and long-form options. A row made with other values is made again on resume. Not
        recorded: the device and threads (where and how fast; they change the audio by rounding only)."""
        return {
            "bark": model_location(self.bark),
            "vocoder": model_location(self.vocoder),
            "engine": self.engine,
            "dtype": self.dtype,
            "max_chunk_tokens": self.max_chunk_tokens,
            "pause_seconds": self.pause_seconds,
            "batch_size": self.batch_size,
        }


def model_location(path: str | None) -> str | None:
    """A local model folder as an absolute path (a Ray worker's working folder is not the driver's, and a manifest
    outlives the folder it was run from); hub ids as they are."""
    return os.path.abspath(path) if path is not None and os.path.exists(path) else path


class RowGenerator:
    """Loads the pipeline once, then generates rows into `out_dir`, one manifest entry per row.

    A row that fails (unknown voice, empty text, any error of the generation) gives an entry with status "failed" and
    the error; it never stops the job. The file is written atomically (`audio_io.write_audio`): a killed worker leaves
    no partial file under the final name.
    """

    def __init__(self, settings: BatchSettings, out_dir: str | os.PathLike) -> None:
        import torch
        from transformers.utils import logging as transformers_logging

        from ..speech.text_to_wav import TextToWavPipeline

        if settings.threads is not None:
            torch.set_num_threads(settings.threads)
        transformers_logging.set_verbosity_error()
        transformers_logging.disable_progress_bar()
        self.out_dir = Path(out_dir)
        self.pipe = TextToWavPipeline.from_pretrained(
            bark=settings.bark,
            vocoder=settings.vocoder,
            device=settings.device,
            dtype=settings.dtype,
            engine=settings.engine,
        )
        self.recorded = settings.recorded()
        self.settings = settings
        self.options = {
            "max_chunk_tokens": settings.max_chunk_tokens,
            "pause_seconds": settings.pause_seconds,
            "batch_size": settings.batch_size,
        }

    def __call__(self, task: RowTask) -> dict[str, Any]:
        """Generate one row and write `out_dir/<task.file>`.

        Returns:
            The manifest entry: id, status ("ok" or "failed"), file, text, duration (seconds), samples, sampling_rate,
            sha256 of the file, seed, voice, decoder, error (`None` when ok), settings (`BatchSettings.recorded`),
            say (the `bark-vocos say` command line that makes the same audio: `say_command`).
        """
        audio: dict[str, Any] = {"duration": None, "samples": None, "sampling_rate": None, "sha256": None}
        error = None
        try:
            output = self.pipe(
                task.text, voice_preset=task.voice, seed=task.seed, decoder=task.decoder, progress=False, **self.options
            )
            path = output.save(self.out_dir / task.file)
            samples = int(output.audio.shape[0])
            audio = {
                "duration": round(samples / output.sampling_rate, 6),
                "samples": samples,
                "sampling_rate": int(output.sampling_rate),
                "sha256": file_sha256(path),
            }
        except Exception as exception:  # a batch job records a row's failure and goes on with the next row
            error = f"{type(exception).__name__}: {exception}"
            (self.out_dir / task.file).unlink(missing_ok=True)  # an earlier run's file for this id is no longer valid
        entry = {"id": task.id, "status": "ok" if error is None else "failed", "file": task.file, "text": task.text}
        entry.update(audio)
        entry.update(seed=task.seed, voice=task.voice, decoder=task.decoder, error=error, settings=self.recorded)
        entry["say"] = self.say_command(task)
        return entry

    def say_command(self, task: RowTask) -> str:
        """The `bark-vocos say` command line that makes this row's audio again (same text, seed and options)."""
        settings = self.settings
        argv = ["bark-vocos", "say", task.text, "-o", task.file, "--seed", str(task.seed), "--bark", settings.bark]
        if settings.vocoder is not None:
            argv += ["--vocoder", settings.vocoder]
        argv += ["--engine", settings.engine, "--decoder", task.decoder, "--device", settings.device]
        argv += ["--max-chunk-tokens", str(settings.max_chunk_tokens), "--pause", repr(settings.pause_seconds)]
        argv += ["--batch-size", str(settings.batch_size)]
        if settings.dtype is not None:
            argv += ["--dtype", settings.dtype]
        if task.voice is not None:
            argv += ["--voice", task.voice]
        return shlex.join(argv)
