"""What the text-to-wav pipeline returns: a whole generation (`TextToWavOutput`) or a streamed piece (`AudioChunk`)."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..io.audio_io import write_audio
from .voice_presets import save_voice_preset

__all__ = ["AudioChunk", "TextToWavOutput"]


@dataclass
class TextToWavOutput:
    """What `TextToWavPipeline` returns for one text.

    Attributes:
        audio: float32 mono samples, shape `(T,)`; `T = frames * hop_length + pauses` (no pause for a single chunk).
        sampling_rate: The decoder's sampling rate (24000 for EnCodec 24 kHz and Vocos-EnCodec).
        codes: Bark's fine codes, int64, shape `(8, frames)`: what the decoder turned into `audio`.
        seed: The seed the generation ran with (drawn at random when none was given): pass it again to repeat it.
        semantic_tokens: Semantic tokens, int64, shape `(S,)`, with `output_full=True`.
        coarse_tokens: Coarse codes, int64, shape `(2, frames)`, with `output_full=True`.
        chunks: The text of each generation (one per chunk of long-form text).
        chunk_frames: Number of fine-code frames of each chunk (they sum to `frames`).
    """

    audio: np.ndarray
    sampling_rate: int
    codes: np.ndarray
    seed: int | None = None
    semantic_tokens: np.ndarray | None = None
    coarse_tokens: np.ndarray | None = None
    chunks: list[str] = field(default_factory=list)
    chunk_frames: list[int] = field(default_factory=list)

    def save(self, path: str | os.PathLike) -> Path:
        """Write `audio` to a `.wav` or `.flac` file (atomically: no partial file on failure), with the seed in its
        comment tag (`bark-vocos seed N`), as `bark-vocos say` writes it.

        Raises:
            ValueError: The generation has no audio (see `check_audio`).
        """
        self.check_audio()
        return write_audio(path, self.audio, self.sampling_rate, comment=f"bark-vocos seed {self.seed}")

    def check_audio(self) -> None:
        """Check that the generation has audio before it is written.

        Raises:
            ValueError: It has none (Bark ended the text at its first token): another seed gives another take.
        """
        if self.audio.size == 0:
            raise ValueError(
                f"the generation has no audio: Bark ended the text at once (seed {self.seed}); try another seed"
            )

    def save_voice_preset(self, path: str | os.PathLike) -> Path:
        """Save this generation as a Bark voice preset `.npz`, reusable as `voice_preset=path`.

        Needs the output of a call with `output_full=True`. For long-form text the preset holds all chunks' tokens;
        Bark's stages keep only the aligned tails they can use (e.g. the last 256 semantic tokens).
        """
        if self.semantic_tokens is None or self.coarse_tokens is None:
            raise ValueError("this output has no semantic/coarse tokens: call the pipeline with output_full=True")
        return save_voice_preset(path, self.semantic_tokens, self.coarse_tokens, self.codes)


@dataclass
class AudioChunk:
    """A piece of streamed audio (`TextToWavPipeline.stream`).

    Attributes:
        audio: float32 mono samples `(n,)`, ready to play; the pieces concatenate to `pipe(...).audio`.
        sampling_rate: The decoder's sampling rate.
        offset: Index of `audio[0]` in the whole output, in samples.
        text: The text of the chunk whose generation produced this audio.
        index: The chunk's index among the text's chunks.
        seed: The seed the generation runs with.
    """

    audio: np.ndarray
    sampling_rate: int
    offset: int
    text: str
    index: int
    seed: int
