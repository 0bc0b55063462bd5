"""DNSMOS (Microsoft's no-reference speech quality model), scored by the `speechmos` package's own code path.

The `speechmos` package ships the published ONNX models (P.835 `sig_bak_ovr.onnx`: signal, background, overall;
P.808 `model_v8.onnx`) and the reference scoring (16 kHz, 9.01 s windows with a 1 s hop, the published polynomial
mapping, clips shorter than 9.01 s repeated until they are long enough). We call that code (`speechmos.dnsmos.DNSMOS`)
and only choose how ONNX Runtime threads, so our numbers are the package's numbers.
"""

from __future__ import annotations

import functools
import time
from importlib.resources import files

import numpy as np

from ..io.audio_io import resample

__all__ = ["DNSMOS_METRICS", "DNSMOS_SAMPLING_RATE", "MIN_SECONDS", "dnsmos", "load_dnsmos", "time_dnsmos"]

DNSMOS_SAMPLING_RATE = 16000
# The reference code's window; a shorter clip is repeated (doubled until long enough) before scoring.
MIN_SECONDS = 9.01
# Our metric name -> the key `speechmos.dnsmos.DNSMOS.__call__` returns.
DNSMOS_METRICS = {
    "dnsmos_sig": "sig_mos",
    "dnsmos_bak": "bak_mos",
    "dnsmos_ovrl": "ovrl_mos",
    "dnsmos_p808": "p808_mos",
}
DEFAULT_THREADS = 2


@functools.lru_cache(maxsize=4)
def load_dnsmos(threads: int = DEFAULT_THREADS):
    """The package's `DNSMOS` scorer with its two ONNX sessions on `threads` intra-op threads (cached per count).

    Raises:
        ValueError: `threads` is not a positive integer.
    """
    import onnxruntime as ort
    from speechmos.dnsmos import DNSMOS

    if not isinstance(threads, int) or threads < 1:
        raise ValueError(f"threads must be a positive integer, got {threads!r}")
    models = files("speechmos") / "dnsmos_models"
    scorer = DNSMOS(str(models / "sig_bak_ovr.onnx"), str(models / "model_v8.onnx"))
    options = ort.SessionOptions()
    options.intra_op_num_threads, options.inter_op_num_threads = threads, 1
    providers = ["CPUExecutionProvider"]
    # Same models, same scoring code: only the sessions' threading differs from the package's defaults.
    scorer.onnx_sess = ort.InferenceSession(scorer.primary_model_path, options, providers=providers)
    scorer.p808_onnx_sess = ort.InferenceSession(str(models / "model_v8.onnx"), options, providers=providers)
    return scorer


def dnsmos(audio: np.ndarray, sampling_rate: int, threads: int = DEFAULT_THREADS) -> dict[str, float]:
    """DNSMOS P.835 (signal, background, overall) and P.808 of one clip; every score is higher-is-better (1 to 5).

    Args:
        audio: Mono float audio of shape `(T,)`, `T > 0`; resampled to 16 kHz and clipped to [-1, 1] (the package
            refuses samples outside that range; a written wav would clip them the same way).
        sampling_rate: Its rate in Hz.
        threads: ONNX Runtime intra-op threads.

    Returns:
        `{"dnsmos_sig": ..., "dnsmos_bak": ..., "dnsmos_ovrl": ..., "dnsmos_p808": ...}`.

    Raises:
        ValueError: Empty or non-mono audio (the package would loop forever on an empty clip).
    """
    audio = np.asarray(audio, dtype=np.float32)
    if audio.ndim != 1 or audio.size == 0:
        raise ValueError(f"DNSMOS needs non-empty mono audio of shape (T,), got shape {audio.shape}")
    if sampling_rate != DNSMOS_SAMPLING_RATE:
        audio = resample(audio, sampling_rate, DNSMOS_SAMPLING_RATE)
    audio = np.clip(audio, -1.0, 1.0)
    scores = load_dnsmos(threads)(audio, DNSMOS_SAMPLING_RATE, False)
    return {name: float(scores[key]) for name, key in DNSMOS_METRICS.items()}


def time_dnsmos(audio: np.ndarray, sampling_rate: int, seconds: float = 10.0, threads: int = DEFAULT_THREADS) -> float:
    """Wall time in seconds of `dnsmos` on a `seconds`-long clip made from `audio` (repeated or cut), best of 3.

    The sessions are loaded (and warmed by one call) before timing, so the figure is the scoring alone.
    """
    audio = np.asarray(audio, dtype=np.float32)
    length = int(round(seconds * sampling_rate))
    clip = np.resize(audio, length) if audio.size else np.zeros(length, np.float32)
    dnsmos(clip, sampling_rate, threads)
    timings = []
    for _ in range(3):
        start = time.perf_counter()
        dnsmos(clip, sampling_rate, threads)
        timings.append(time.perf_counter() - start)
    return min(timings)
