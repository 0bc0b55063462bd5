"""What users call: text-to-wav, long-form text, the EnCodec-vs-Vocos comparison, and the command line."""

from .machine import keep_freed_memory
from .text_to_wav import AudioChunk, TextToWavOutput, TextToWavPipeline

__all__ = ["AudioChunk", "TextToWavOutput", "TextToWavPipeline", "keep_freed_memory"]
