"""DNSMOS: our scores are the `speechmos` package's own (`speechmos.dnsmos.run`) on the same arrays, short clips
included, and every comparison mode reports them."""

import numpy as np
import pytest
from synthetic_audio import ONE_DNSMOS_WINDOW_SECONDS, noise_burst, voiced_syllables

from pipelines.compare.dnsmos import DNSMOS_METRICS, dnsmos, time_dnsmos
from pipelines.compare.scoring import score_item
from pipelines.io.audio_io import resample


# shorter than one 9.01 s window (repeated), and two windows
@pytest.mark.parametrize("seconds", [2 * ONE_DNSMOS_WINDOW_SECONDS, 12.5])
def test_equals_the_package_scoring_on_the_same_array(seconds):
    speechmos_dnsmos = pytest.importorskip("speechmos.dnsmos")
    speech = voiced_syllables(16000, seconds=seconds) + noise_burst(int(16000 * seconds), seed=1, level=0.01)
    speech = np.clip(speech, -1, 1).astype(np.float32)
    ours = dnsmos(speech, 16000)
    theirs = speechmos_dnsmos.run(speech, sr=16000)
    for name, key in DNSMOS_METRICS.items():
        assert ours[name] == pytest.approx(float(theirs[key]), abs=1e-3)
        assert 1.0 <= ours[name] <= 5.0


def test_other_rates_are_resampled_to_16k_and_noise_scores_lower():
    speech = voiced_syllables(24000, seconds=2 * ONE_DNSMOS_WINDOW_SECONDS)
    at_24k = dnsmos(speech, 24000)
    assert at_24k == pytest.approx(dnsmos(resample(speech, 24000, 16000), 16000), abs=1e-6)
    noisy = dnsmos(speech + noise_burst(speech.size, seed=2, level=0.1), 24000)
    assert noisy["dnsmos_bak"] < at_24k["dnsmos_bak"]  # loud noise: a worse background score
    assert dnsmos(speech, 24000) == at_24k  # deterministic


def test_bad_input_and_timing():
    with pytest.raises(ValueError, match="non-empty mono"):
        dnsmos(np.zeros(0, np.float32), 16000)
    with pytest.raises(ValueError, match="non-empty mono"):
        dnsmos(np.zeros((2, 100), np.float32), 16000)
    assert time_dnsmos(voiced_syllables(16000, seconds=1.0), 16000) > 0


def test_every_candidate_gets_dnsmos_with_and_without_reference():
    speech = voiced_syllables(24000, seconds=2 * ONE_DNSMOS_WINDOW_SECONDS)
    candidates = {"a": speech, "b": speech + noise_burst(speech.size, seed=3, level=0.05)}
    alone = {candidate: dnsmos(audio, 24000)["dnsmos_ovrl"] for candidate, audio in candidates.items()}
    for reference in (None, speech):
        item = score_item("x", candidates, 24000, reference=reference)
        for candidate in candidates:
            assert set(DNSMOS_METRICS) <= set(item.metrics[candidate])
            assert item.metrics[candidate]["dnsmos_ovrl"] == pytest.approx(alone[candidate])
