"""VocosEncodecProcessor and VocosFeatureExtractor: audio and codes paths, padding masks, save/load, input errors."""

import json

import numpy as np
import pytest
import torch
from transformers import AutoProcessor

from bark_vocos import VocosEncodecModel, VocosEncodecProcessor
from bark_vocos.testing import save_tiny_vocos


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    return save_tiny_vocos(tmp_path_factory.mktemp("tiny_processor") / "vocos", seed=0)


@pytest.fixture(scope="module")
def processor(tiny):
    return VocosEncodecProcessor.from_pretrained(tiny)


@pytest.fixture(scope="module")
def model(tiny):
    return VocosEncodecModel.from_pretrained(tiny)


def noise(samples, seed=0):
    return 0.3 * np.random.default_rng(seed).standard_normal(samples).astype(np.float32)


def test_saved_in_transformers_processor_format(tiny, processor):
    saved = json.loads((tiny / "processor_config.json").read_text())
    assert saved["audio_tokenizer"]["audio_tokenizer_class"] == "EncodecModel"
    assert saved["audio_tokenizer"]["audio_tokenizer_name_or_path"].endswith("audio_tokenizer")
    assert saved["feature_extractor"]["feature_extractor_type"] == "VocosFeatureExtractor"
    assert isinstance(AutoProcessor.from_pretrained(tiny), VocosEncodecProcessor)
    assert processor.feature_extractor.sampling_rate == 24000


def test_model_card_usage_with_audio(tiny):
    """The model card's lines as written (`device_map="auto"` needs accelerate, a dependency of ours)."""
    processor = VocosEncodecProcessor.from_pretrained(tiny)
    model = VocosEncodecModel.from_pretrained(tiny, device_map="auto")
    sampling_rate = processor.feature_extractor.sampling_rate
    inputs = processor(audio=noise(24000 // 10), bandwidth=6.0, sampling_rate=sampling_rate).to(model.device)
    assert inputs["input_features"].shape == (1, 16, 8)  # 2400 samples -> 7.5 frames, padded to 8
    assert inputs["bandwidth"] == 6.0 and "attention_mask" in inputs
    with torch.inference_mode():
        output = model(**inputs)
    assert output.audio.shape == (1, 8 * 320)
    assert output.attention_mask.sum().item() == 2400


def test_codes_path_matches_the_models_own_codebook_table(processor, model):
    codes = torch.randint(0, 1024, (8, 2, 11), generator=torch.Generator().manual_seed(0))
    inputs = processor(codes=codes, bandwidth=6.0)
    assert inputs["input_features"].shape == (2, 16, 11)
    assert inputs["attention_mask"].shape == (2, 11 * 320) and bool(inputs["attention_mask"].all())
    torch.testing.assert_close(inputs["input_features"], model.codes_to_features(codes), rtol=0, atol=1e-6)
    assert processor(codes=codes[:2])["bandwidth"] == 1.5


def test_audio_batch_of_different_lengths_is_padded_with_a_sample_mask(processor, model):
    inputs = processor(audio=[noise(1000, 1), noise(700, 2)], bandwidth=3.0)
    assert inputs["input_features"].shape == (2, 16, 4)
    assert inputs["attention_mask"].shape == (2, 1280)
    assert inputs["attention_mask"].sum(dim=1).tolist() == [1000, 700]
    with torch.inference_mode():
        output = model(**inputs)
    trimmed = [audio[mask.bool()] for audio, mask in zip(output.audio, output.attention_mask, strict=True)]
    assert [len(item) for item in trimmed] == [1000, 700]


def test_list_of_codes_of_different_lengths_gets_a_mask(processor):
    codes = [torch.randint(0, 1024, (4, length)) for length in (5, 9)]
    inputs = processor(codes=codes)
    assert inputs["input_features"].shape == (2, 16, 9)
    assert inputs["attention_mask"].sum(dim=1).tolist() == [5 * 320, 9 * 320]
    assert inputs["bandwidth"] == 3.0


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        ({}, ValueError, "exactly one of audio or codes"),
        ({"audio": np.zeros(10, np.float32), "codes": torch.zeros(2, 3, dtype=torch.long)}, ValueError, "exactly one"),
        ({"audio": np.zeros(10, np.float32)}, ValueError, r"needs a bandwidth.*\[1.5, 3.0, 6.0, 12.0\]"),
        ({"audio": np.zeros(10, np.float32), "bandwidth": 24.0}, ValueError, "24.0 kbps is not supported"),
        ({"audio": np.zeros(0, np.float32), "bandwidth": 6.0}, ValueError, "empty"),
        ({"audio": np.array([0.1, np.nan], np.float32), "bandwidth": 6.0}, ValueError, "NaN or infinite"),
        ({"audio": np.array([0.1, np.inf], np.float32), "bandwidth": 6.0}, ValueError, "NaN or infinite"),
        ({"audio": np.zeros((2, 2, 5), np.float32), "bandwidth": 6.0}, ValueError, r"\(T,\) or \(B, T\)"),
        ({"audio": np.zeros(10, np.int16), "bandwidth": 6.0}, TypeError, "floating-point"),
        ({"audio": np.zeros(10, np.float32), "bandwidth": 6.0, "sampling_rate": 16000}, ValueError, "24000 Hz"),
        ({"codes": torch.zeros(8, 5, dtype=torch.long), "bandwidth": 1.5}, ValueError, "8 codebooks but"),
        ({"codes": torch.full((2, 5), 5000)}, ValueError, r"outside the valid range \[0, 1024\)"),
    ],
)
def test_bad_inputs_are_clear_errors(processor, kwargs, error, message):
    with pytest.raises(error, match=message):
        processor(**kwargs)
