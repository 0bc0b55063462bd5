"""Opt-in: the real Vocos-EnCodec checkpoints on the Hugging Face Hub load, in the layout we expect, with real shapes.

Off by default (marker `network`). Run where the hub is reachable:

    HF_HUB_OFFLINE=0 .venv/bin/python -m pytest -m network tests/test_vocos_network.py -v

It downloads about 60 MB per id (plus `facebook/encodec_24khz` for the processor) into the hub cache.
"""

import huggingface_hub.constants
import numpy as np
import pytest
import torch

from bark_vocos import ModelNotAvailableError, VocosEncodecModel, VocosEncodecProcessor
from bark_vocos.vocos.layouts import LAYOUTS, detect_layout

pytestmark = pytest.mark.network

# hub id -> whether it must exist (the two the README names) or is a mirror that may have gone
HUB_IDS = {
    "hf-audio/vocos-encodec-24khz": True,
    "charactr/vocos-encodec-24khz": True,
    "Manel/vocos-encodec-24khz": False,
    "Manel/Vocos-Encodec": False,
    "lucasnewman/vocos-encodec-24khz": False,
}


@pytest.fixture(autouse=True)
def online():
    if huggingface_hub.constants.HF_HUB_OFFLINE:
        pytest.skip("HF_HUB_OFFLINE is set: run with HF_HUB_OFFLINE=0 and internet")


def load(hub_id):
    try:
        return detect_layout(hub_id), VocosEncodecModel.from_pretrained(hub_id)
    except ModelNotAvailableError as error:
        if HUB_IDS[hub_id]:
            raise
        pytest.skip(f"mirror {hub_id} is not available: {error}")


def codes():
    return torch.randint(0, 1024, (8, 2, 75), generator=torch.Generator().manual_seed(0))


@pytest.mark.parametrize("hub_id", list(HUB_IDS))
def test_hub_checkpoint_loads_with_the_real_shapes(hub_id):
    layout, model = load(hub_id)
    print(f"{hub_id}: layout {layout.name}, weights {layout.weights_file.name}, model_type {layout.model_type}")
    assert layout.name in LAYOUTS
    config = model.config
    assert (config.codebook_dim, config.hidden_size, config.intermediate_size, config.num_layers) == (128, 384, 1152, 8)
    assert (config.n_fft, config.hop_length, config.istft_padding) == (1280, 320, "same")
    assert config.bandwidths == [1.5, 3.0, 6.0, 12.0] and model.codebook_weights.shape == (16384, 128)
    with torch.inference_mode():
        audio = model(codes=codes()).audio
    assert audio.shape == (2, 75 * 320) and bool(torch.isfinite(audio).all()) and audio.abs().max() > 1e-4


def test_the_port_and_the_original_decode_alike():
    _, port = load("hf-audio/vocos-encodec-24khz")
    _, original = load("charactr/vocos-encodec-24khz")
    with torch.inference_mode():
        expected = original(codes=codes()).audio
        audio = port(codes=codes()).audio
    assert (audio - expected).abs().max() <= 1e-4 * expected.abs().max()


def test_the_ports_processor_encodes_audio_in_320_sample_frames():
    layout, model = load("hf-audio/vocos-encodec-24khz")
    if not layout.processor_files:
        pytest.skip("hf-audio/vocos-encodec-24khz has no processor files")
    processor = VocosEncodecProcessor.from_pretrained("hf-audio/vocos-encodec-24khz")
    waves = [0.1 * np.sin(np.arange(n) * 0.05).astype(np.float32) for n in (24000, 23999)]
    inputs = processor(audio=waves, bandwidth=6.0, sampling_rate=24000)
    assert inputs["input_features"].shape == (2, 128, 75)
    with torch.inference_mode():
        output = model(**inputs)
    assert [int(mask.sum()) for mask in output.attention_mask] == [24000, 23999]
