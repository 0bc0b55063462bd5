"""Synthetic test signals for the comparison tests: speech-like voiced syllables, chirps, noise bursts."""

from __future__ import annotations

import numpy as np

# A clip length DNSMOS scores in one window: it repeats a clip shorter than 9.01 s (doubling it) until it is that long
# and scores every 1 s hop of the result, so 1.2 s and 2.4 s clips become 9.6 s (one window) where 1 s and 2 s clips
# become 16 s (seven). DNSMOS is most of what scoring a short clip costs: tests whose clips' length is not what they
# check use this length, or twice or half it.
ONE_DNSMOS_WINDOW_SECONDS = 1.2


def voiced_syllables(sampling_rate: int = 16000, seconds: float = 3.0, seed: int = 0) -> np.ndarray:
    """A speech-like signal of shape `(T,)`: a gliding harmonic tone (f0 110-220 Hz, harmonics to 5 kHz) switched
    on and off at a syllable rate, with a little breath noise, peak 0.5. PESQ detects it as speech."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(sampling_rate * seconds)) / sampling_rate
    f0 = 160 + 50 * np.sin(2 * np.pi * 0.7 * t)
    phase = 2 * np.pi * np.cumsum(f0) / sampling_rate
    harmonics = sum(np.sin(k * phase) / k for k in range(1, int(5000 / 220)))
    envelope = np.clip(np.sin(2 * np.pi * 3.0 * t), 0, None) ** 2 * (t > 0.2) * (t < seconds - 0.2)
    audio = harmonics * envelope + 0.01 * rng.standard_normal(t.size) * envelope
    return (0.5 * audio / np.abs(audio).max()).astype(np.float32)


def chirp(
    sampling_rate: int = 24000, seconds: float = 1.0, f_start: float = 100.0, f_end: float = 8000.0
) -> np.ndarray:
    """A linear sine sweep of shape `(T,)`, amplitude 0.5."""
    t = np.arange(int(sampling_rate * seconds)) / sampling_rate
    rate = (f_end - f_start) / seconds
    return (0.5 * np.sin(2 * np.pi * (f_start * t + 0.5 * rate * t**2))).astype(np.float32)


def noise_burst(size: int, seed: int = 1, level: float = 0.3) -> np.ndarray:
    """White Gaussian noise of shape `(size,)` and standard deviation `level`."""
    return (level * np.random.default_rng(seed).standard_normal(size)).astype(np.float32)
