"""Reference and no-reference measures on synthesised audio: best value for a copy, bad for noise, between for a
slightly degraded copy; alignment; errors."""

import numpy as np
import pytest
from synthetic_audio import chirp, noise_burst, voiced_syllables

from pipelines.compare import metrics as M

SR = 24000


@pytest.fixture(scope="module")
def scored():
    reference = voiced_syllables(SR)
    candidates = {
        "copy": reference.copy(),
        "slightly_noisy": reference + noise_burst(reference.size, seed=2, level=0.001),
        "noise": noise_burst(reference.size, seed=1),
    }
    return {name: M.reference_metrics(reference, audio, SR) for name, audio in candidates.items()}


def test_copy_gets_each_metric_best_value(scored):
    copy = scored["copy"]
    assert copy["pesq"] == pytest.approx(4.644, abs=0.01)  # the top of the wide-band PESQ scale
    assert copy["stoi"] == pytest.approx(1.0, abs=1e-6)
    assert copy["si_sdr"] > 100
    assert copy["mr_stft"] == pytest.approx(0.0, abs=1e-9)
    assert copy["mel"] == pytest.approx(0.0, abs=1e-9)


def test_noise_gets_bad_values(scored):
    noise = scored["noise"]
    assert noise["pesq"] < 1.2
    assert noise["stoi"] < 0.5
    assert noise["si_sdr"] < -20
    assert noise["mr_stft"] > 3
    assert noise["mel"] > 3


@pytest.mark.parametrize("metric", ["pesq", "stoi", "si_sdr", "mr_stft", "mel"])
def test_slightly_degraded_copy_lands_between(scored, metric):
    sign = 1 if M.METRICS[metric].higher_is_better else -1
    copy, noisy, noise = (sign * scored[name][metric] for name in ("copy", "slightly_noisy", "noise"))
    assert copy >= noisy > noise
    if metric != "stoi":  # STOI barely notices noise 50 dB down
        assert copy > noisy


def test_si_sdr_is_scale_invariant_and_measures_snr():
    reference = chirp(SR)
    noise = noise_burst(reference.size, seed=3, level=1.0)
    noise *= np.sqrt(np.mean(reference**2) / np.mean(noise**2)) * 10 ** (-20 / 20)  # 20 dB below the chirp
    noisy = reference + noise
    assert M.si_sdr(reference, noisy) == pytest.approx(20.0, abs=0.3)
    assert M.si_sdr(reference, 0.25 * noisy) == pytest.approx(M.si_sdr(reference, noisy), abs=1e-6)


@pytest.mark.parametrize("lag", [37, -21, 0])
def test_align_finds_a_known_lag(lag):
    reference = voiced_syllables(SR, seconds=1.5)
    candidate = np.concatenate([np.zeros(lag, np.float32), reference]) if lag >= 0 else reference[-lag:]
    ref, cand, found = M.align(reference, candidate, SR, max_lag_ms=5.0)
    assert found == lag
    assert ref.shape == cand.shape
    np.testing.assert_array_equal(ref, cand)


def test_align_without_search_only_trims_length():
    reference = chirp(SR)
    ref, cand, lag = M.align(reference, np.concatenate([np.zeros(10, np.float32), reference]), SR, max_lag_ms=0)
    assert lag == 0 and ref.shape == cand.shape == reference.shape
    with pytest.raises(ValueError, match="max_lag_ms"):
        M.align(reference, reference, SR, max_lag_ms=-1)


def test_reference_measures_reject_unaligned_or_silent_input():
    reference = chirp(SR)
    with pytest.raises(ValueError, match="differ in length"):
        M.si_sdr(reference, reference[:-1])
    with pytest.raises(ValueError, match="STOI needs"):
        M.stoi(reference[: SR // 10], reference[: SR // 10], SR)
    with pytest.raises(ValueError, match="PESQ cannot score"):
        M.pesq_wb(np.zeros(SR, np.float32), reference, SR)


def test_no_reference_measures_on_tones_and_noise():
    t = np.arange(SR) / SR
    low, high = 0.5 * np.sin(2 * np.pi * 1000 * t), 0.5 * np.sin(2 * np.pi * 6000 * t)
    white = noise_burst(SR, seed=4)
    assert M.high_band_ratio(low, SR) < 0.01
    assert M.high_band_ratio(high, SR) > 0.99
    assert M.high_band_ratio(white, SR) == pytest.approx((12000 - 4000) / 12000, abs=0.03)
    assert M.spectral_flatness(low, SR) < 0.01
    assert M.spectral_flatness(white, SR) > 0.5
    assert M.rms_dbfs(np.sin(2 * np.pi * 1000 * t)) == pytest.approx(-3.01, abs=0.01)
    clipped = np.clip(2 * np.sin(2 * np.pi * 50 * t), -1, 1)
    assert M.clipping_fraction(clipped) == pytest.approx(np.mean(np.abs(clipped) >= 0.999))
    assert 0.6 < M.clipping_fraction(clipped) < 0.7  # |2 sin| >= 1 two thirds of the time
    assert M.clipping_fraction(low) == 0.0
    with pytest.raises(ValueError, match="cutoff_hz"):
        M.high_band_ratio(low, SR, cutoff_hz=20000)
    dnsmos = {n for n in M.METRICS if n.startswith("dnsmos_")}  # scored by dnsmos.py's ONNX models, not here
    assert set(M.no_reference_metrics(low, SR)) == {
        n for n, m in M.METRICS.items() if not m.needs_reference and n not in dnsmos
    }
