"""Audio quality measures for the EnCodec-vs-Vocos comparison: with a reference and without one.

With a reference (resynthesis and scoring modes), a candidate is compared with the clean input it should
reproduce:

- `pesq`: wide-band PESQ (ITU-T P.862.2) at 16 kHz, from the `pesq` package. 1.04 (bad) to 4.64 (transparent).
- `stoi`: short-time objective intelligibility, from `pystoi` (which resamples to 10 kHz itself). 0 to 1.
- `si_sdr`: scale-invariant signal-to-distortion ratio in dB. Very large (above 100 dB) for an identical copy.
- `mr_stft`: multi-resolution STFT distance (spectral convergence + mean absolute log-magnitude difference,
  averaged over three FFT sizes). 0 for an identical copy.
- `mel`: mean absolute difference of log-mel spectrograms (100 bands, 1024-point FFT, hop 256 at 24 kHz, as
  in Vocos training). 0 for an identical copy.

Without a reference (text mode, Bark's own codes have no ground truth), descriptive signal measures:

- `high_band_ratio`: share of the signal's energy above 4 kHz (Welch PSD). No preferred direction: a vocoder
  that adds high-frequency detail raises it, and so does one that adds hiss.
- `spectral_flatness`: mean over active frames (within 50 dB of the loudest frame) of the geometric over the
  arithmetic mean of the power spectrum. 0 for a pure tone, 1 for white noise. No preferred direction.
- `clipping_fraction`: share of samples at full scale (|x| >= 0.999). Lower is better.
- `rms_dbfs`: overall level in dB relative to full scale. No preferred direction.

In every mode, with or without a reference, DNSMOS (`dnsmos.py`) predicts listeners' opinion scores:
`dnsmos_sig`, `dnsmos_bak`, `dnsmos_ovrl` (P.835) and `dnsmos_p808`, 1 to 5, higher is better.

All functions take mono float arrays of shape `(T,)`; the reference measures expect both signals at the same
sampling rate and already aligned (see `align`).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
import pesq as pesq_lib
from pystoi import stoi as pystoi_stoi
from scipy.signal import correlate, stft, welch
from transformers.audio_utils import mel_filter_bank

from ..io.audio_io import resample

__all__ = [
    "METRICS",
    "Metric",
    "align",
    "clipping_fraction",
    "high_band_ratio",
    "mel_distance",
    "multi_resolution_stft_distance",
    "no_reference_metrics",
    "pesq_wb",
    "reference_metrics",
    "rms_dbfs",
    "si_sdr",
    "spectral_flatness",
    "stoi",
]

PESQ_SAMPLING_RATE = 16000
# (n_fft, hop) per resolution, Hann windows of n_fft samples; the usual three of Parallel WaveGAN-style losses.
STFT_RESOLUTIONS = ((512, 128), (1024, 256), (2048, 512))
# Magnitudes are floored before the log so that digital silence does not dominate the distances (about -100 dB).
MAGNITUDE_FLOOR = 1e-5
CLIPPING_THRESHOLD = 0.999
HIGH_BAND_CUTOFF_HZ = 4000.0
ACTIVE_FRAME_RANGE_DB = 50.0


@dataclass(frozen=True)
class Metric:
    """What a measure means and which way is better.

    Attributes:
        name: Key used in reports.
        label: Short human-readable name with its unit.
        higher_is_better: True or False; None when the measure is descriptive (no winner is declared).
        needs_reference: Whether it compares a candidate with a reference.
    """

    name: str
    label: str
    higher_is_better: bool | None
    needs_reference: bool


METRICS: dict[str, Metric] = {
    metric.name: metric
    for metric in (
        Metric("pesq", "PESQ (wb, 16 kHz)", True, True),
        Metric("stoi", "STOI", True, True),
        Metric("si_sdr", "SI-SDR (dB)", True, True),
        Metric("mr_stft", "MR-STFT distance", False, True),
        Metric("mel", "mel distance", False, True),
        Metric("high_band_ratio", "energy above 4 kHz (share)", None, False),
        Metric("spectral_flatness", "spectral flatness", None, False),
        Metric("clipping_fraction", "clipped samples (share)", False, False),
        Metric("rms_dbfs", "level (dBFS)", None, False),
        # no-reference MOS predictions (see `dnsmos`), measured in every mode, with or without a reference
        Metric("dnsmos_sig", "DNSMOS signal (P.835)", True, False),
        Metric("dnsmos_bak", "DNSMOS background (P.835)", True, False),
        Metric("dnsmos_ovrl", "DNSMOS overall (P.835)", True, False),
        Metric("dnsmos_p808", "DNSMOS P.808", True, False),
    )
}


def _check_pair(reference: np.ndarray, candidate: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    reference = np.asarray(reference, dtype=np.float64)
    candidate = np.asarray(candidate, dtype=np.float64)
    if reference.ndim != 1 or candidate.ndim != 1:
        raise ValueError(f"expected mono audio of shape (T,), got {reference.shape} and {candidate.shape}")
    if reference.shape != candidate.shape:
        raise ValueError(
            f"reference and candidate differ in length ({reference.size} vs {candidate.size}): align first"
        )
    return reference, candidate


def align(
    reference: np.ndarray, candidate: np.ndarray, sampling_rate: int, max_lag_ms: float = 0.0
) -> tuple[np.ndarray, np.ndarray, int]:
    """Align a candidate with its reference: an optional small lag search, then both cut to the common length.

    The lag is the shift within +-`max_lag_ms` that maximises the cross-correlation of the two signals
    (scipy.signal.correlate). It absorbs constant offsets such as a codec's or an MP3 encoder's delay. The
    shift that maximises the correlation is also the one that maximises SI-SDR, so the search never makes a
    candidate look worse. PESQ aligns itself; the other measures need this step.

    Args:
        reference: Shape `(T1,)`.
        candidate: Shape `(T2,)`, same sampling rate.
        sampling_rate: In Hz, to convert `max_lag_ms` to samples.
        max_lag_ms: Largest shift searched, in milliseconds; 0 disables the search.

    Returns:
        `(reference, candidate, lag)`: both of shape `(T,)`, and `lag` in samples (positive when the candidate
        is late, i.e. `candidate[n + lag]` matches `reference[n]`).
    """
    if not np.isfinite(max_lag_ms) or max_lag_ms < 0:
        raise ValueError(f"max_lag_ms must be a finite number >= 0, got {max_lag_ms}")
    reference = np.asarray(reference, dtype=np.float32)
    candidate = np.asarray(candidate, dtype=np.float32)
    length = min(reference.size, candidate.size)
    max_lag = min(int(round(max_lag_ms * sampling_rate / 1000)), length - 1)
    lag = 0
    if max_lag > 0:
        full = correlate(candidate[:length], reference[:length], mode="full", method="fft")
        centre = length - 1  # index of lag 0 in the "full" output
        window = full[centre - max_lag : centre + max_lag + 1]
        lag = int(np.argmax(window)) - max_lag
    if lag > 0:
        candidate = candidate[lag:]
    elif lag < 0:
        reference = reference[-lag:]
    length = min(reference.size, candidate.size)
    return reference[:length], candidate[:length], lag


def pesq_wb(reference: np.ndarray, candidate: np.ndarray, sampling_rate: int) -> float:
    """Wide-band PESQ (P.862.2) of `candidate` against `reference`, both resampled to 16 kHz.

    Args:
        reference: Shape `(T,)`.
        candidate: Shape `(T,)`.
        sampling_rate: Their rate in Hz.

    Raises:
        ValueError: PESQ finds no speech in the reference, or the audio is shorter than PESQ needs (about 0.25 s).
    """
    reference, candidate = _check_pair(reference, candidate)
    reference = resample(reference, sampling_rate, PESQ_SAMPLING_RATE)
    candidate = resample(candidate, sampling_rate, PESQ_SAMPLING_RATE)
    try:
        return float(pesq_lib.pesq(PESQ_SAMPLING_RATE, reference, candidate, "wb"))
    except pesq_lib.PesqError as error:
        raise ValueError(f"PESQ cannot score this pair: {type(error).__name__}: {error}") from error


def stoi(reference: np.ndarray, candidate: np.ndarray, sampling_rate: int) -> float:
    """STOI of `candidate` against `reference` (pystoi; classic, not extended). Range 0 to 1, higher is better.

    Args:
        reference: Shape `(T,)`.
        candidate: Shape `(T,)`.
        sampling_rate: Their rate in Hz.

    Raises:
        ValueError: The reference holds too little active speech for STOI.
    """
    reference, candidate = _check_pair(reference, candidate)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        value = float(pystoi_stoi(reference, candidate, sampling_rate, extended=False))
    # pystoi only warns (and returns 1e-5) when too little active speech remains: a number that would mislead.
    if any("Not enough STFT frames" in str(warning.message) for warning in caught):
        raise ValueError("STOI needs at least about 0.4 s of active speech in the reference (30 frames of 25.6 ms)")
    return value


def si_sdr(reference: np.ndarray, candidate: np.ndarray) -> float:
    """Scale-invariant signal-to-distortion ratio in dB (Le Roux et al., 2019), both signals made zero-mean.

    `eps` (machine epsilon) keeps an identical copy finite: it scores about 10*log10(energy / eps), far above 100.

    Args:
        reference: Shape `(T,)`.
        candidate: Shape `(T,)`.
    """
    reference, candidate = _check_pair(reference, candidate)
    eps = np.finfo(np.float64).eps
    reference = reference - reference.mean()
    candidate = candidate - candidate.mean()
    scale = np.dot(candidate, reference) / (np.dot(reference, reference) + eps)
    target = scale * reference
    noise = candidate - target
    return float(10 * np.log10((np.dot(target, target) + eps) / (np.dot(noise, noise) + eps)))


def _magnitude(audio: np.ndarray, n_fft: int, hop: int) -> np.ndarray:
    """|STFT| of shape `(n_fft // 2 + 1, frames)`, Hann window of `n_fft` samples."""
    _, _, spectrum = stft(audio, window="hann", nperseg=n_fft, noverlap=n_fft - hop, nfft=n_fft)
    return np.abs(spectrum)


def multi_resolution_stft_distance(reference: np.ndarray, candidate: np.ndarray) -> float:
    """Multi-resolution STFT distance: mean over `STFT_RESOLUTIONS` of spectral convergence plus log-magnitude L1.

    Spectral convergence is `||S_ref - S_cand||_F / ||S_ref||_F`; the log-magnitude term is the mean of
    `|log(max(S_ref, floor)) - log(max(S_cand, floor))|`. Lower is better; 0 for an identical copy.

    Args:
        reference: Shape `(T,)`.
        candidate: Shape `(T,)`.
    """
    reference, candidate = _check_pair(reference, candidate)
    distances = []
    for n_fft, hop in STFT_RESOLUTIONS:
        ref_mag = _magnitude(reference, n_fft, hop)
        cand_mag = _magnitude(candidate, n_fft, hop)
        convergence = np.linalg.norm(ref_mag - cand_mag) / max(np.linalg.norm(ref_mag), MAGNITUDE_FLOOR)
        log_l1 = np.mean(
            np.abs(np.log(np.maximum(ref_mag, MAGNITUDE_FLOOR)) - np.log(np.maximum(cand_mag, MAGNITUDE_FLOOR)))
        )
        distances.append(convergence + log_l1)
    return float(np.mean(distances))


def _log_mel(audio: np.ndarray, sampling_rate: int) -> np.ndarray:
    """Log-mel spectrogram of shape `(100, frames)`: 1024-point FFT, hop 256, HTK mel bands from 0 to Nyquist."""
    n_fft = 1024
    filters = mel_filter_bank(
        num_frequency_bins=n_fft // 2 + 1,
        num_mel_filters=100,
        min_frequency=0.0,
        max_frequency=sampling_rate / 2,
        sampling_rate=sampling_rate,
    )  # (freq, mels)
    mel = filters.T @ _magnitude(audio, n_fft, 256)
    return np.log(np.maximum(mel, MAGNITUDE_FLOOR))


def mel_distance(reference: np.ndarray, candidate: np.ndarray, sampling_rate: int) -> float:
    """Mean absolute difference of log-mel spectrograms (the Vocos / HiFi-GAN mel loss). Lower is better.

    Args:
        reference: Shape `(T,)`.
        candidate: Shape `(T,)`.
        sampling_rate: Their rate in Hz.
    """
    reference, candidate = _check_pair(reference, candidate)
    return float(np.mean(np.abs(_log_mel(reference, sampling_rate) - _log_mel(candidate, sampling_rate))))


def reference_metrics(reference: np.ndarray, candidate: np.ndarray, sampling_rate: int) -> dict[str, float]:
    """Every measure that needs a reference, for an aligned pair of shape `(T,)` each.

    Returns:
        `{"pesq": ..., "stoi": ..., "si_sdr": ..., "mr_stft": ..., "mel": ...}`.
    """
    return {
        "pesq": pesq_wb(reference, candidate, sampling_rate),
        "stoi": stoi(reference, candidate, sampling_rate),
        "si_sdr": si_sdr(reference, candidate),
        "mr_stft": multi_resolution_stft_distance(reference, candidate),
        "mel": mel_distance(reference, candidate, sampling_rate),
    }


def _check_mono(audio: np.ndarray) -> np.ndarray:
    audio = np.asarray(audio, dtype=np.float64)
    if audio.ndim != 1 or audio.size == 0:
        raise ValueError(f"expected non-empty mono audio of shape (T,), got shape {audio.shape}")
    return audio


def high_band_ratio(audio: np.ndarray, sampling_rate: int, cutoff_hz: float = HIGH_BAND_CUTOFF_HZ) -> float:
    """Share of the energy above `cutoff_hz` (Welch power spectral density, 2048-sample segments).

    Args:
        audio: Shape `(T,)`.
        sampling_rate: In Hz.
        cutoff_hz: Lower edge of the high band.
    """
    audio = _check_mono(audio)
    if not 0 < cutoff_hz < sampling_rate / 2:
        raise ValueError(f"cutoff_hz must lie between 0 and Nyquist ({sampling_rate / 2} Hz), got {cutoff_hz}")
    frequencies, power = welch(audio, fs=sampling_rate, nperseg=min(2048, audio.size))
    total = power.sum()
    return float(power[frequencies >= cutoff_hz].sum() / total) if total > 0 else 0.0


def spectral_flatness(audio: np.ndarray, sampling_rate: int) -> float:
    """Mean spectral flatness (geometric / arithmetic mean of the power spectrum) over active frames.

    Frames are 1024 samples with hop 256; a frame is active when its energy is within 50 dB of the loudest
    frame, so that silence (whose flatness is meaningless) does not count.

    Args:
        audio: Shape `(T,)`.
        sampling_rate: In Hz (frame sizes are fixed in samples; the rate only documents the input).
    """
    audio = _check_mono(audio)
    power = _magnitude(audio, 1024, 256) ** 2 + 1e-20  # (freq, frames)
    energy = power.sum(axis=0)
    active = energy >= energy.max() * 10 ** (-ACTIVE_FRAME_RANGE_DB / 10)
    flatness = np.exp(np.mean(np.log(power[:, active]), axis=0)) / np.mean(power[:, active], axis=0)
    return float(np.mean(flatness))


def clipping_fraction(audio: np.ndarray, threshold: float = CLIPPING_THRESHOLD) -> float:
    """Share of samples whose magnitude reaches `threshold` (full scale is 1.0). Lower is better.

    Args:
        audio: Shape `(T,)`.
        threshold: Magnitude counted as clipped.
    """
    audio = _check_mono(audio)
    return float(np.mean(np.abs(audio) >= threshold))


def rms_dbfs(audio: np.ndarray) -> float:
    """Root-mean-square level in dB relative to full scale (-inf for digital silence is floored at -200 dB).

    Args:
        audio: Shape `(T,)`.
    """
    audio = _check_mono(audio)
    return float(20 * np.log10(max(np.sqrt(np.mean(audio**2)), 1e-10)))


def no_reference_metrics(audio: np.ndarray, sampling_rate: int) -> dict[str, float]:
    """Every signal measure that needs no reference, for audio of shape `(T,)` (DNSMOS's come from `dnsmos.dnsmos`).

    Returns:
        `{"high_band_ratio": ..., "spectral_flatness": ..., "clipping_fraction": ..., "rms_dbfs": ...}`.
    """
    return {
        "high_band_ratio": high_band_ratio(audio, sampling_rate),
        "spectral_flatness": spectral_flatness(audio, sampling_rate),
        "clipping_fraction": clipping_fraction(audio),
        "rms_dbfs": rms_dbfs(audio),
    }
