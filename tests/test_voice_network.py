"""Opt-in: a voice from a real recording with the real models, and Bark speaking a sentence with it.

Off by default (marker `network`). Run where the hub is reachable, with the DAPS clips beside the repository:

    HF_HUB_OFFLINE=0 .venv/bin/python -m pytest -m network tests/test_voice_network.py -v

It downloads facebook/hubert-base-ls960 (about 380 MB), GitMylo/bark-voice-cloning's default quantizer (244 MB),
facebook/encodec_24khz and suno/bark-small into the hub cache. The clip is read from
`../shared/reference-audio/daps-resynthesis/gt/` (DAPS); no audio is copied into the repository.
"""

from pathlib import Path

import huggingface_hub.constants
import numpy as np
import pytest
import soundfile as sf

from bark_vocos.hubert_quantizer import HubertQuantizerConfig
from pipelines import TextToWavPipeline, VoiceCloner
from pipelines.speech.voice_cloning import read_recording

pytestmark = pytest.mark.network

DAPS = Path(__file__).resolve().parents[1].parent / "shared" / "reference-audio" / "daps-resynthesis" / "gt"
CLIP = "f10_script1_cleanraw_trimmed_002.mp3"


@pytest.fixture(autouse=True)
def online():
    if huggingface_hub.constants.HF_HUB_OFFLINE:
        pytest.skip("HF_HUB_OFFLINE is set: run with HF_HUB_OFFLINE=0 and internet")
    if not (DAPS / CLIP).is_file():
        pytest.skip(f"the DAPS clip {DAPS / CLIP} is not here")


def test_clone_a_daps_voice_and_speak_with_it(tmp_path):
    cloner = VoiceCloner.from_pretrained()
    assert cloner.quantizer.config == HubertQuantizerConfig(768, 1024, 10_000, 1)
    assert cloner.bounds.history_seconds == pytest.approx({"semantic": 256 / 49.9, "coarse": 4.2, "fine": 512 / 75})
    recording = read_recording(DAPS / CLIP)
    voice = cloner(recording.audio, recording.sampling_rate)
    seconds = voice.window.seconds
    assert seconds == pytest.approx(cloner.bounds.max_seconds) and voice.window.speech_seconds > 3
    assert abs(voice.semantic_prompt.shape[0] - 49.9 * seconds) <= 1
    assert voice.fine_prompt.shape == (8, int(np.ceil(75 * seconds)))
    assert len(np.unique(voice.semantic_prompt)) > 50  # a trained quantizer on speech uses many tokens
    path = voice.save(tmp_path / "daps_f10.npz")

    pipe = TextToWavPipeline.from_pretrained()
    output = pipe("Hello, this is a test of a cloned voice.", voice_preset=path, seed=0, progress=False)
    output.check_audio()
    assert 1.0 < output.audio.shape[0] / output.sampling_rate < 15 and np.isfinite(output.audio).all()
    output.save(tmp_path / "daps_f10_says_hello.wav")  # kept in the test's tmp folder, for anyone who wants to listen
    assert sf.info(tmp_path / "daps_f10_says_hello.wav").frames == output.audio.shape[0]
