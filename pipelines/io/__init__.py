"""File and audio I/O: the one audio reader/writer, atomic outputs and new folders, `.npy` reading, WAV streams."""

__all__ = ["audio_io", "files", "npy_files", "wav_stream"]  # its modules (imported on use: torch loads only with them)
