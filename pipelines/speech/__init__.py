"""The text-to-speech pipeline and its parts: checks, planning of long texts into chunks, Bark's generation, decoding
and the outputs, voice presets and cloning, devices and seeds, progress bars, the process's memory setting."""

__all__ = [
    "bark_generation",
    "checks",
    "code_decoding",
    "devices",
    "long_form",
    "memory",
    "outputs",
    "progress",
    "sentences",
    "text_to_wav",
    "voice_cloning",
    "voice_presets",
    "voice_window",
]  # its modules (imported on use: torch loads only with them)
