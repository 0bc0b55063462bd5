"""Which part of a recording becomes a voice: a window of at most what Bark reads, with enough sound in it.

Bark's stages read only the end of a voice prompt (see `voice_cloning.VoiceBounds`), so a voice is made from one
window of the recording. "Speech" here is measured by level, not recognised: a 20 ms frame counts when its RMS is
within `SPEECH_RANGE_DB` of the recording's loudest frame and above `SILENCE_DBFS`. That is enough to skip leading
and trailing silence and to refuse a clip that is silent or mostly pauses; it does not tell speech from music or
noise (the user picks the recording). It is a few lines of numpy rather than a voice-activity library (webrtcvad,
silero-vad) because finding the sounding part is all that is needed, and those add a compiled or a downloaded model.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = [
    "FRAME_SECONDS",
    "MIN_SPEECH_SECONDS",
    "SILENCE_DBFS",
    "SPEECH_RANGE_DB",
    "TAIL_SECONDS",
    "VoiceWindow",
    "choose_window",
    "speech_frames",
]

FRAME_SECONDS = 0.02
SILENCE_DBFS = -60.0  # a frame quieter than this is silence, whatever the rest of the recording
SPEECH_RANGE_DB = 35.0  # a frame this far below the loudest one is a pause (room noise), not speech
MIN_SPEECH_SECONDS = 2.0  # less speech than this gives Bark too little of the voice to follow
TAIL_SECONDS = 0.25  # the default window ends this long after the last speech frame (the decay of the last word)


@dataclass(frozen=True)
class VoiceWindow:
    """The part of a recording a voice is made from.

    Attributes:
        start: Start in seconds from the recording's start.
        seconds: Length in seconds.
        speech_seconds: How much of it counts as speech (see the module docstring).
    """

    start: float
    seconds: float
    speech_seconds: float

    def samples(self, sampling_rate: int) -> slice:
        """The window as a slice of sample indices at `sampling_rate`."""
        first = round(self.start * sampling_rate)
        return slice(first, first + round(self.seconds * sampling_rate))


def speech_frames(audio: np.ndarray, sampling_rate: int) -> np.ndarray:
    """Which 20 ms frames count as speech.

    Args:
        audio: `(T,)` float samples in [-1, 1].
        sampling_rate: In Hz.

    Returns:
        `(ceil(T / frame),)` bool array, frame `i` covering samples `[i * frame, (i + 1) * frame)`.
    """
    frame = max(1, round(FRAME_SECONDS * sampling_rate))
    padded = np.zeros(-(-len(audio) // frame) * frame, dtype=np.float64)
    padded[: len(audio)] = audio
    rms = np.sqrt(np.mean(padded.reshape(-1, frame) ** 2, axis=1))
    level = 20 * np.log10(np.maximum(rms, 1e-10))
    return (level > SILENCE_DBFS) & (level > level.max() - SPEECH_RANGE_DB)


def _seconds(value: float | None, name: str) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not np.isfinite(value):
        raise ValueError(f"{name} must be a number of seconds, got {value!r}")
    return float(value)


def choose_window(
    audio: np.ndarray,
    sampling_rate: int,
    *,
    max_seconds: float,
    start: float | None = None,
    seconds: float | None = None,
) -> VoiceWindow:
    """Choose the window: `seconds` from `start` when given; by default the last `max_seconds` with speech in them.

    Args:
        audio: `(T,)` float samples.
        sampling_rate: In Hz.
        max_seconds: The longest window (what Bark reads, plus a margin).
        start: Window start in seconds; `None`: the window ends just after the last speech (see `TAIL_SECONDS`).
        seconds: Window length, at most `max_seconds` (default); cut at the recording's end.

    Raises:
        ValueError: A recording shorter than `MIN_SPEECH_SECONDS` or silent, `start`/`seconds` out of range, or a
            window with less than `MIN_SPEECH_SECONDS` of speech; each message says why and what to change.
    """
    start, seconds = _seconds(start, "start"), _seconds(seconds, "seconds")
    duration = len(audio) / sampling_rate
    if duration < MIN_SPEECH_SECONDS:
        raise ValueError(
            f"the recording is too short: {duration:.2f} s, and a voice needs at least {MIN_SPEECH_SECONDS:g} s of "
            "speech"
        )
    speech = speech_frames(audio, sampling_rate)
    if not speech.any():
        peak = float(np.max(np.abs(audio)))
        peak_db = f"{20 * np.log10(peak):.0f} dBFS" if peak > 0 else "digital silence"
        raise ValueError(f"the recording is silent (peak {peak_db}, below {SILENCE_DBFS:g} dBFS): no voice to clone")
    if seconds is None:
        seconds = max_seconds
    if not MIN_SPEECH_SECONDS <= seconds <= max_seconds:
        raise ValueError(
            f"seconds {seconds:g} is out of range: {MIN_SPEECH_SECONDS:g} to {max_seconds:.2f} (Bark reads only the "
            f"last {max_seconds:.2f} s of a voice, margin included)"
        )
    if start is None:
        last_speech_end = (np.flatnonzero(speech)[-1] + 1) * FRAME_SECONDS
        end = min(duration, last_speech_end + TAIL_SECONDS)
        start = max(0.0, end - seconds)
    elif not 0 <= start < duration:
        raise ValueError(f"start {start:g} s is outside the recording (0 to {duration:.2f} s)")
    seconds = min(seconds, duration - start)
    first, last = int(start / FRAME_SECONDS), int(np.ceil((start + seconds) / FRAME_SECONDS))
    speech_seconds = float(speech[first:last].sum() * FRAME_SECONDS)
    if speech_seconds < MIN_SPEECH_SECONDS:
        raise ValueError(
            f"too little speech: {speech_seconds:.2f} s in the part used ({start:.2f} to {start + seconds:.2f} s), "
            f"at least {MIN_SPEECH_SECONDS:g} s needed: use a recording with more speech or choose another part "
            "(--start, --seconds)"
        )
    return VoiceWindow(
        start=round(float(start), 6), seconds=round(float(seconds), 6), speech_seconds=round(speech_seconds, 6)
    )
