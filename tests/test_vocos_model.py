"""VocosEncodecModel: config, bandwidths, strict loading of both layouts, inputs, masks, dtypes (tiny random)."""

import json

import pytest
import torch
from safetensors.torch import load_file, save_file
from transformers import AutoConfig, AutoModel

from bark_vocos import (
    BANDWIDTHS,
    VocosEncodecConfig,
    VocosEncodecModel,
    VocosEncodecOutput,
    bandwidth_for_num_codebooks,
    num_codebooks_for_bandwidth,
)
from bark_vocos.testing import save_tiny_vocos
from bark_vocos.vocos.codes import embed_codes


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    return save_tiny_vocos(tmp_path_factory.mktemp("tiny") / "vocos", seed=0)


@pytest.fixture(scope="module")
def tiny_original(tmp_path_factory):
    return save_tiny_vocos(tmp_path_factory.mktemp("tiny_original") / "vocos", layout="original", seed=0)


@pytest.fixture(scope="module")
def model(tiny):
    return VocosEncodecModel.from_pretrained(tiny)


def random_codes(num_codebooks, batch, frames, seed=0):
    return torch.randint(0, 1024, (num_codebooks, batch, frames), generator=torch.Generator().manual_seed(seed))


def test_bandwidth_mapping_round_trips_and_names_valid_values():
    assert [num_codebooks_for_bandwidth(b) for b in BANDWIDTHS] == [2, 4, 8, 16]
    assert [bandwidth_for_num_codebooks(n) for n in (2, 4, 8, 16)] == list(BANDWIDTHS)
    with pytest.raises(ValueError, match=r"24.0.*\[1.5, 3.0, 6.0, 12.0\]"):
        num_codebooks_for_bandwidth(24.0)
    with pytest.raises(ValueError, match=r"\[2, 4, 8, 16\]"):
        bandwidth_for_num_codebooks(3)


def test_config_defaults_and_validation():
    config = VocosEncodecConfig()
    assert (config.hidden_size, config.num_layers, config.n_fft, config.hop_length) == (384, 8, 1280, 320)
    assert config.num_quantizers == 16384 and config.bandwidths == [1.5, 3.0, 6.0, 12.0]
    with pytest.raises(ValueError, match="subset"):
        VocosEncodecConfig(bandwidths=[24.0])
    with pytest.raises(ValueError, match="num_quantizers"):
        VocosEncodecConfig(num_quantizers=100)
    with pytest.raises(ValueError, match="istft_padding"):
        VocosEncodecConfig(istft_padding="valid")


def test_auto_classes_resolve_vocos_encodec(tiny):
    assert isinstance(AutoConfig.from_pretrained(tiny), VocosEncodecConfig)
    assert isinstance(AutoModel.from_pretrained(tiny), VocosEncodecModel)
    assert json.loads((tiny / "config.json").read_text())["model_type"] == "vocos_encodec"


def test_both_layouts_and_save_pretrained_give_identical_audio(model, tiny_original, tmp_path):
    codes = random_codes(8, 2, 12)
    original = VocosEncodecModel.from_pretrained(tiny_original)
    model.save_pretrained(tmp_path / "saved")
    saved = VocosEncodecModel.from_pretrained(tmp_path / "saved")
    with torch.inference_mode():
        audio = model(codes=codes).audio
        assert torch.equal(audio, original(codes=codes).audio)
        assert torch.equal(audio, saved(codes=codes).audio)
    assert audio.shape == (2, 12 * 320) and audio.abs().max() > 0


def test_loading_keeps_every_saved_tensor(tiny, tiny_original, model):
    """No tensor of a checkpoint is re-initialized after loading (transformers may run `_init_weights` then)."""
    from bark_vocos.vocos.conversion import convert_state_dict

    saved = load_file(str(tiny / "model.safetensors"))
    loaded = model.state_dict()
    assert set(saved) == set(loaded)
    for name, tensor in saved.items():
        assert torch.equal(loaded[name], tensor), name
    original = torch.load(tiny_original / "pytorch_model.bin", weights_only=True)
    expected = convert_state_dict("original", original, loaded)
    from_original = VocosEncodecModel.from_pretrained(tiny_original).state_dict()
    for name, tensor in expected.items():
        assert torch.equal(from_original[name], tensor), name
    norms = [name for name in saved if name.endswith("norm.weight")]  # not left at the fresh-model value of ones
    assert norms and all(not torch.all(saved[name] == 1) for name in norms)


def test_tiny_checkpoint_is_deterministic_per_seed(tmp_path, model):
    again = VocosEncodecModel.from_pretrained(save_tiny_vocos(tmp_path / "again", seed=0))
    other = VocosEncodecModel.from_pretrained(save_tiny_vocos(tmp_path / "other", seed=1))
    for name, tensor in model.state_dict().items():
        assert torch.equal(tensor, again.state_dict()[name]), name
    assert not torch.equal(model.embed.weight, other.embed.weight)


def rewrite_weights(folder, destination, change):
    destination.mkdir()
    for path in folder.iterdir():
        if path.is_file() and path.name != "model.safetensors":
            (destination / path.name).write_bytes(path.read_bytes())
    weights = load_file(folder / "model.safetensors")
    change(weights)
    save_file(weights, destination / "model.safetensors", metadata={"format": "pt"})
    return destination


def test_missing_unexpected_and_misshaped_tensors_are_named(tiny, tmp_path):
    missing = rewrite_weights(tiny, tmp_path / "missing", lambda w: w.pop("layers.1.pwconv2.weight"))
    with pytest.raises(ValueError, match=r"missing_keys: layers\.1\.pwconv2\.weight"):
        VocosEncodecModel.from_pretrained(missing)
    unexpected = rewrite_weights(tiny, tmp_path / "unexpected", lambda w: w.update(extra=torch.zeros(2)))
    with pytest.raises(ValueError, match="unexpected_keys: extra"):
        VocosEncodecModel.from_pretrained(unexpected)

    def misshape(weights):
        weights["final_layer_norm.weight"] = torch.ones(5)

    with pytest.raises((ValueError, RuntimeError), match="final_layer_norm.weight"):
        VocosEncodecModel.from_pretrained(rewrite_weights(tiny, tmp_path / "misshaped", misshape))


def test_original_layout_strictness_names_keys(tiny_original, tmp_path):
    state = torch.load(tiny_original / "pytorch_model.bin", weights_only=True)
    for name, change in {
        "missing tensors: layers.0.layer_scale_parameter": lambda s: s.pop("backbone.convnext.0.gamma"),
        "unexpected tensors: backbone.extra": lambda s: s.update({"backbone.extra": torch.zeros(1)}),
        r"mis-shaped tensors: head.out.bias \(3,\)": lambda s: s.update({"head.out.bias": torch.zeros(3)}),
    }.items():
        folder = tmp_path / str(abs(hash(name)))
        folder.mkdir()
        (folder / "config.yaml").write_bytes((tiny_original / "config.yaml").read_bytes())
        changed = dict(state)
        change(changed)
        torch.save(changed, folder / "pytorch_model.bin")
        with pytest.raises(ValueError, match=name):
            VocosEncodecModel.from_pretrained(folder)


def test_unknown_original_class_path_is_refused(tiny_original, tmp_path):
    folder = tmp_path / "mel"
    folder.mkdir()
    text = (tiny_original / "config.yaml").read_text().replace("EncodecFeatures", "MelSpectrogramFeatures")
    (folder / "config.yaml").write_text(text)
    (folder / "pytorch_model.bin").write_bytes((tiny_original / "pytorch_model.bin").read_bytes())
    with pytest.raises(ValueError, match="vocos.feature_extractors.EncodecFeatures"):
        VocosEncodecModel.from_pretrained(folder)


def test_unreachable_hub_id_is_one_clear_error():
    from bark_vocos import ModelNotAvailableError

    with pytest.raises(ModelNotAvailableError, match="no-such-org/no-such-vocos.*local folder"):
        VocosEncodecModel.from_pretrained("no-such-org/no-such-vocos")


def test_bandwidth_inferred_given_by_id_and_checked(model):
    codes = random_codes(4, 1, 9)
    with torch.inference_mode():
        inferred = model(codes=codes).audio
        assert torch.equal(inferred, model(codes=codes, bandwidth=3.0).audio)
        assert torch.equal(inferred, model(codes=codes, bandwidth_id=1).audio)
        assert torch.equal(inferred, model(codes=codes, bandwidth_id=torch.tensor([1])).audio)
        assert not torch.equal(inferred, model(input_features=model.codes_to_features(codes), bandwidth=6.0).audio)
    with pytest.raises(ValueError, match="4 codebooks but bandwidth 6.0 kbps uses 8"):
        model(codes=codes, bandwidth=6.0)
    with pytest.raises(ValueError, match=r"valid bandwidths are \[1.5, 3.0, 6.0, 12.0\]"):
        model(input_features=torch.zeros(1, 16, 3), bandwidth=2.0)
    with pytest.raises(ValueError, match="valid ids are 0..3"):
        model(codes=codes, bandwidth_id=7)
    with pytest.raises(ValueError, match="need a bandwidth"):
        model(input_features=torch.zeros(1, 16, 3))


def test_codes_two_and_three_dims_and_features_agree(model):
    codes = random_codes(8, 2, 10)
    with torch.inference_mode():
        batched = model(codes=codes)
        single = model(codes=codes[:, 1])
        features = model.codes_to_features(codes)
        from_features = model(input_features=features, bandwidth=6.0).audio
    assert isinstance(batched, VocosEncodecOutput) and batched.attention_mask is None
    assert features.shape == (2, 16, 10)
    assert single.audio.shape == (1, 3200)
    torch.testing.assert_close(single.audio[0], batched.audio[1], rtol=0, atol=1e-6)
    assert torch.equal(from_features, batched.audio)


@pytest.mark.parametrize("num_codebooks", [2, 8, 16])
def test_codebook_features_are_the_sum_of_the_gathered_rows_bit_for_bit(num_codebooks):
    """float32 tables take `F.embedding_bag`; its sums are those of gathering the rows and summing over codebooks."""
    table = torch.randn(16 * 1024, 32, generator=torch.Generator().manual_seed(1))
    codes = random_codes(num_codebooks, 3, 50)
    offsets = torch.arange(0, 1024 * num_codebooks, 1024).view(-1, 1, 1)
    expected = torch.nn.functional.embedding(codes + offsets, table).sum(dim=0).transpose(1, 2)
    assert torch.equal(embed_codes(codes, table), expected)
    torch.testing.assert_close(embed_codes(codes, table.double()), expected.double(), rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize(
    ("codes", "error", "message"),
    [
        (torch.full((8, 5), 1024), ValueError, r"code 1024 is outside the valid range \[0, 1024\)"),
        (torch.full((8, 5), -1), ValueError, "code -1 is outside"),
        (torch.zeros(8, dtype=torch.long), ValueError, r"shape \(K, T\) or \(K, B, T\)"),
        (torch.zeros(3, 5, dtype=torch.long), ValueError, r"valid numbers of codebooks are \[2, 4, 8, 16\]"),
        (torch.zeros(8, 5), TypeError, "integers"),
        (torch.zeros(8, 0, dtype=torch.long), ValueError, "empty"),
    ],
)
def test_bad_codes_are_clear_errors(model, codes, error, message):
    with pytest.raises(error, match=message):
        model(codes=codes)


def test_both_or_neither_input_and_bad_features(model):
    with pytest.raises(ValueError, match="exactly one"):
        model()
    with pytest.raises(ValueError, match="exactly one"):
        model(codes=random_codes(2, 1, 3), input_features=torch.zeros(1, 16, 3), bandwidth=1.5)
    with pytest.raises(ValueError, match=r"\(B, 16, T\)"):
        model(input_features=torch.zeros(1, 128, 3), bandwidth=1.5)


def test_lengths_give_a_sample_mask_and_padding_does_not_leak_backwards(model):
    codes = random_codes(8, 2, 40)
    with torch.inference_mode():
        output = model(codes=codes, lengths=[40, 30])
        alone = model(codes=codes[:, 1, :30]).audio
    assert output.attention_mask.shape == (2, 40 * 320)
    assert output.attention_mask.sum(dim=1).tolist() == [40 * 320, 30 * 320]
    trimmed = output.audio[1][output.attention_mask[1].bool()]
    assert trimmed.shape == alone[0].shape
    # Frames further from the padding than the receptive field (3 convolutions of +-3 frames, plus the ISTFT
    # overlap) are unaffected by it.
    torch.testing.assert_close(trimmed[: 15 * 320], alone[0][: 15 * 320], rtol=0, atol=1e-6)
    with pytest.raises(ValueError, match=r"frame counts in \[1, 40\]"):
        model(codes=codes, lengths=[41, 3])
    with pytest.raises(ValueError, match="attention_mask must have shape"):
        model(codes=codes, attention_mask=torch.ones(2, 5))


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16])
def test_half_precision_weights_decode_with_float32_istft(tiny, model, dtype):
    half = VocosEncodecModel.from_pretrained(tiny, dtype=dtype)
    assert half.embed.weight.dtype == dtype
    codes = random_codes(8, 1, 15)
    with torch.inference_mode():
        audio = half(codes=codes).audio
        reference = model(codes=codes).audio
    assert audio.dtype == torch.float32
    assert float((audio - reference).abs().max() / reference.abs().max()) < 0.1


def test_center_padding_uses_torch_istft(tiny):
    center = VocosEncodecModel.from_pretrained(tiny, istft_padding="center")
    with torch.inference_mode():
        audio = center(codes=random_codes(2, 1, 10)).audio
    assert center.config.istft_padding == "center"
    assert audio.shape == (1, 9 * 320) and torch.isfinite(audio).all()
