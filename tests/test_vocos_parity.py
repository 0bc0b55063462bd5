"""Parity of VocosEncodec with the original Vocos code (gemelo-ai/vocos 0.1.0) and with transformers' EnCodec.

The original package is built from a tiny config.yaml with random weights (see `bark_vocos.vocos.reference` for the
torchaudio stand-in and the EnCodec download that is skipped), saved in the original layout and loaded with our
`from_pretrained`. Tolerance: max |ours - original| <= 1e-4 * max |original|.
"""

import importlib.util

import pytest
import torch
import yaml
from transformers import EncodecModel

from bark_vocos import BANDWIDTHS, VocosEncodecModel, VocosEncodecProcessor, num_codebooks_for_bandwidth
from bark_vocos.testing import AUDIO_TOKENIZER_FOLDER, save_tiny_vocos
from bark_vocos.vocos.modeling_vocos_encodec import convert_checkpoint
from bark_vocos.vocos.reference import build_original_vocos, original_config_yaml

# `vocos` cannot be imported before `bark_vocos.vocos.reference` registers the torchaudio stand-in: look it up instead.
pytestmark = pytest.mark.skipif(
    importlib.util.find_spec("vocos") is None or importlib.util.find_spec("encodec") is None,
    reason="the original packages come with `make setup`: pip install --no-deps vocos==0.1.0 encodec==0.1.1",
)

TOLERANCE = 1e-4


def relative_error(ours: torch.Tensor, reference: torch.Tensor) -> float:
    return float((ours - reference).abs().max() / reference.abs().max())


def save_original(folder, config, original, with_encodec_weights=False):
    folder.mkdir()
    (folder / "config.yaml").write_text(yaml.safe_dump(config), encoding="utf-8")
    state = {
        key: value
        for key, value in original.state_dict().items()
        if with_encodec_weights or not key.startswith("feature_extractor.encodec.")
    }
    torch.save(state, folder / "pytorch_model.bin")
    return folder


@pytest.fixture(scope="module")
def original_pair(tmp_path_factory):
    """(original vocos.Vocos, its config dict, folder in the original layout) with random weights."""
    config = original_config_yaml(dim=32, intermediate_dim=48, num_layers=2)
    original = build_original_vocos(config, seed=0)
    folder = save_original(tmp_path_factory.mktemp("original") / "vocos", config, original)
    return original, config, folder


@pytest.mark.parametrize("bandwidth", BANDWIDTHS)
def test_codes_and_features_match_original(original_pair, bandwidth):
    original, _, folder = original_pair
    ours = VocosEncodecModel.from_pretrained(folder)
    bandwidth_id = BANDWIDTHS.index(bandwidth)
    generator = torch.Generator().manual_seed(1)
    codes = torch.randint(0, 1024, (num_codebooks_for_bandwidth(bandwidth), 3, 37), generator=generator)
    with torch.inference_mode():
        reference = original.decode(original.codes_to_features(codes), bandwidth_id=torch.tensor([bandwidth_id]))
        from_codes = ours(codes=codes).audio
        features = torch.randn(3, 128, 29, generator=generator)
        reference_features = original.decode(features, bandwidth_id=torch.tensor([bandwidth_id]))
        from_features = ours(input_features=features, bandwidth=bandwidth).audio
    assert from_codes.shape == reference.shape == (3, 37 * 320)
    assert from_codes.dtype == torch.float32
    assert relative_error(from_codes, reference) <= TOLERANCE
    assert relative_error(ours.codes_to_features(codes), original.codes_to_features(codes)) <= 1e-6
    assert from_features.shape == (3, 29 * 320)
    assert relative_error(from_features, reference_features) <= TOLERANCE
    assert reference.abs().max() > 1e-3  # the comparison is not between two silences


@pytest.mark.parametrize("frames", [1, 2])
def test_the_shortest_codes_match_original(original_pair, frames):
    """One frame is where the head's contiguous halves would be a view of its projection without an explicit copy."""
    original, _, folder = original_pair
    ours = VocosEncodecModel.from_pretrained(folder)
    codes = torch.randint(0, 1024, (8, 1, frames), generator=torch.Generator().manual_seed(2))
    with torch.inference_mode():
        reference = original.decode(original.codes_to_features(codes), bandwidth_id=torch.tensor([2]))
        audio = ours(codes=codes).audio
    assert audio.shape == reference.shape == (1, frames * 320)
    assert relative_error(audio, reference) <= TOLERANCE


def test_fold_path_matches_original_when_hop_does_not_divide_n_fft(tmp_path):
    config = original_config_yaml(dim=32, intermediate_dim=48, num_layers=1, n_fft=800, hop_length=320)
    original = build_original_vocos(config, seed=3)
    ours = VocosEncodecModel.from_pretrained(save_original(tmp_path / "vocos", config, original))
    codes = torch.randint(0, 1024, (8, 2, 21), generator=torch.Generator().manual_seed(0))
    with torch.inference_mode():
        reference = original.decode(original.codes_to_features(codes), bandwidth_id=torch.tensor([2]))
        audio = ours(codes=codes, bandwidth_id=2).audio
    assert audio.shape == reference.shape == (2, 21 * 320)
    assert relative_error(audio, reference) <= TOLERANCE


def test_original_with_encodec_weights_loads_and_converts_identically(original_pair, tmp_path):
    original, config, folder = original_pair
    with_encodec = save_original(tmp_path / "with_encodec", config, original, with_encodec_weights=True)
    converted = convert_checkpoint(folder, tmp_path / "converted")
    codes = torch.randint(0, 1024, (4, 2, 15), generator=torch.Generator().manual_seed(2))
    with torch.inference_mode():
        audio = VocosEncodecModel.from_pretrained(folder)(codes=codes).audio
        audio_with_encodec = VocosEncodecModel.from_pretrained(with_encodec)(codes=codes).audio
        audio_converted = VocosEncodecModel.from_pretrained(converted)(codes=codes).audio
    assert (converted / "config.json").is_file()
    assert torch.equal(audio, audio_with_encodec)
    assert torch.equal(audio, audio_converted)


@pytest.mark.parametrize("bandwidth", BANDWIDTHS)
def test_audio_path_codes_match_transformers_encodec(tmp_path_factory, bandwidth):
    folder = tmp_path_factory.getbasetemp() / "tiny_for_audio_path"
    if not folder.exists():
        save_tiny_vocos(folder)
    processor = VocosEncodecProcessor.from_pretrained(folder)
    encodec = EncodecModel.from_pretrained(folder / AUDIO_TOKENIZER_FOLDER).eval()
    audio = 0.3 * torch.randn(2, 320 * 9, generator=torch.Generator().manual_seed(4))
    with torch.inference_mode():
        ours = processor.encode(audio, bandwidth)
        reference = encodec.encode(audio[:, None, :], bandwidth=bandwidth).audio_codes  # (chunks, B, K, T)
    reference = reference[0].transpose(0, 1)  # (K, B, T)
    assert ours.shape == (num_codebooks_for_bandwidth(bandwidth), 2, 9)
    assert torch.equal(ours, reference)
    assert len(torch.unique(ours)) > 1
