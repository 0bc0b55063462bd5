"""The quantizer loads strictly in its published format; HuBERT features are the 9th layer's output (random weights)."""

import json
import os
import zipfile

import pytest
import torch

from bark_vocos.errors import ModelNotAvailableError
from bark_vocos.hubert_features import HUBERT_LAYER, hubert_features, hubert_frames, load_hubert
from bark_vocos.hubert_quantizer import (
    HubertQuantizer,
    HubertQuantizerConfig,
    load_hubert_quantizer,
    resolve_quantizer_file,
    save_hubert_quantizer,
)
from bark_vocos.testing import save_tiny_hubert, save_tiny_quantizer


@pytest.fixture(scope="module")
def hubert_dir(tmp_path_factory):
    return save_tiny_hubert(tmp_path_factory.mktemp("hubert") / "hubert", seed=0)


@pytest.mark.parametrize("version", [0, 1])
def test_quantizer_with_info_loads_its_sizes_and_tokens(tmp_path, version):
    path = save_tiny_quantizer(tmp_path / f"quantifier_v{version}.pth", version=version, seed=1)
    with zipfile.ZipFile(path) as archive:
        info = json.loads(archive.read(f"quantifier_v{version}/.info"))
    assert info == {"input_size": 32, "hidden_size": 16, "output_size": 64, "version": version}
    model = load_hubert_quantizer(path)
    assert model.config == HubertQuantizerConfig(32, 16, 64, version)
    assert (model.intermediate is not None) == (version == 1)
    features = torch.randn(1, 120, 32, generator=torch.Generator().manual_seed(0))
    tokens = model.tokens(features)
    assert tokens.shape == (1, 120) and tokens.dtype == torch.int64
    assert 0 <= int(tokens.min()) and int(tokens.max()) < 64
    assert len(tokens.unique()) > 1
    # the same as the published model's per-frame argmax of log_softmax over its unbatched (T, input) call
    reference = torch.log_softmax(model(features[0][None]), dim=-1)[0].argmax(dim=1)
    torch.testing.assert_close(tokens[0], reference)


def test_old_style_file_without_info_loads_version_0_sizes(tmp_path):
    model = HubertQuantizer(HubertQuantizerConfig())
    path = save_hubert_quantizer(model, tmp_path / "quantifier_hubert_base_ls960.pth", info=False)
    with zipfile.ZipFile(path) as archive:
        assert not [name for name in archive.namelist() if name.endswith(".info")]
    loaded = load_hubert_quantizer(path)
    assert loaded.config == HubertQuantizerConfig(768, 1024, 10_000, 0)
    for key, value in model.state_dict().items():
        torch.testing.assert_close(loaded.state_dict()[key], value, rtol=0, atol=0)


def test_old_style_file_with_other_shapes_is_refused(tmp_path):
    path = tmp_path / "small.pth"
    torch.save(HubertQuantizer(HubertQuantizerConfig(32, 16, 64, 0)).state_dict(), path)
    with pytest.raises(ValueError, match=r"no \.info member, so version 0's sizes apply") as caught:
        load_hubert_quantizer(path)
    assert "lstm.weight_ih_l0" in str(caught.value) and "(64, 32)" in str(caught.value)


def test_state_dict_with_other_shapes_than_info_is_refused(tmp_path):
    path = save_tiny_quantizer(tmp_path / "q.pth", hidden_size=16)
    with zipfile.ZipFile(path, "a") as archive:  # a second, contradicting .info
        archive.writestr("other/.info", json.dumps({"input_size": 32, "hidden_size": 8, "output_size": 64}))
    with pytest.raises(ValueError, match="2 .info members"):
        load_hubert_quantizer(path)
    state = HubertQuantizer(HubertQuantizerConfig(32, 8, 64, 1)).state_dict()
    torch.save(state, tmp_path / "q2.pth")
    with zipfile.ZipFile(tmp_path / "q2.pth", "a") as archive:
        archive.writestr("q2/.info", json.dumps({"input_size": 32, "hidden_size": 16, "output_size": 64, "version": 1}))
    with pytest.raises(ValueError, match=r"'lstm.weight_ih_l0' is torch.float32 \(32, 32\), expected .*\(64, 32\)"):
        load_hubert_quantizer(tmp_path / "q2.pth")


def test_a_pickle_with_code_is_refused_without_running_it(tmp_path):
    marker = tmp_path / "code-ran"

    class Payload:
        def __reduce__(self):
            return os.mkdir, (str(marker),)

    path = tmp_path / "evil.pth"
    torch.save({"fc.weight": torch.zeros(2, 2), "payload": Payload()}, path)
    with pytest.raises(ValueError, match=r"refused: it is not a plain state dict of tensors"):
        load_hubert_quantizer(path)
    assert not marker.exists()


def test_a_bark_checkpoint_is_refused_naming_its_keys(tmp_path, tiny_bark_dir):
    from safetensors.torch import load_file

    with pytest.raises(ValueError, match="not a PyTorch zip checkpoint"):
        load_hubert_quantizer(tiny_bark_dir / "model.safetensors")
    path = tmp_path / "pytorch_model.bin"
    torch.save(load_file(tiny_bark_dir / "model.safetensors"), path)
    with pytest.raises(ValueError, match=r"not a version 0 HuBERT quantizer: missing keys \[lstm\.weight_ih_l0") as e:
        load_hubert_quantizer(path)
    assert "unexpected keys [" in str(e.value) and "more)" in str(e.value)


@pytest.mark.parametrize(
    ("info", "message"),
    [
        ("not json", "not valid JSON"),
        (json.dumps({"input_size": 32}), "must be a JSON object with"),
        (json.dumps({"input_size": 32, "hidden_size": 16, "output_size": 64, "version": 7}), "version 7 is not one"),
        (json.dumps({"input_size": -1, "hidden_size": 16, "output_size": 64}), "input_size must be a positive"),
    ],
)
def test_malformed_info_is_refused(tmp_path, info, message):
    path = tmp_path / "q.pth"
    torch.save(HubertQuantizer(HubertQuantizerConfig(32, 16, 64, 0)).state_dict(), path)
    with zipfile.ZipFile(path, "a") as archive:
        archive.writestr("q/.info", info)
    with pytest.raises(ValueError, match=message):
        load_hubert_quantizer(path)


def test_missing_file_is_file_not_found(tmp_path):
    with pytest.raises(FileNotFoundError, match="quantizer file not found"):
        load_hubert_quantizer(tmp_path / "none.pth")


def test_resolve_quantizer_file_local_and_offline_hub(tmp_path, monkeypatch):
    path = save_tiny_quantizer(tmp_path / "quantifier_V1_hubert_base_ls960_23.pth")
    assert resolve_quantizer_file(path, "x.pth") == path
    assert resolve_quantizer_file(tmp_path, "quantifier_V1_hubert_base_ls960_23.pth") == path
    assert resolve_quantizer_file(tmp_path, "other.pth") == path  # the folder's only .pth file
    save_tiny_quantizer(tmp_path / "second.pth")
    with pytest.raises(ModelNotAvailableError, match="holds 2 .pth files"):
        resolve_quantizer_file(tmp_path, "other.pth")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    for source in ("nobody/no-such-quantizer", "nobody/no-such-quantizer/file.pth"):
        with pytest.raises(ModelNotAvailableError, match="HF_HUB_OFFLINE is set") as caught:
            resolve_quantizer_file(source, "x.pth")
        assert "nobody/no-such-quantizer" in str(caught.value)
    with pytest.raises(ModelNotAvailableError, match="not a hub id"):
        resolve_quantizer_file(tmp_path / "missing.pth", "x.pth")


def test_hubert_features_are_the_9th_layer_output(hubert_dir):
    from transformers import HubertModel

    audio = 0.1 * torch.randn(2, 16_000 * 2, generator=torch.Generator().manual_seed(0))
    full = HubertModel.from_pretrained(hubert_dir).eval()
    with torch.no_grad():
        reference = full(audio, output_hidden_states=True)
    model = load_hubert(hubert_dir)
    assert len(model.encoder.layers) == HUBERT_LAYER
    features = hubert_features(model, audio)
    assert features.shape == reference.hidden_states[HUBERT_LAYER].shape == (2, 99, 32)
    torch.testing.assert_close(features, reference.hidden_states[HUBERT_LAYER], rtol=1e-5, atol=1e-6)
    assert not torch.allclose(features, reference.last_hidden_state)  # the tiny model has a 10th layer


@pytest.mark.parametrize("seconds", [2.0, 3.7, 5.0, 7.33])
def test_hubert_gives_49_9_frames_per_second_within_one_frame(hubert_dir, seconds):
    model = load_hubert(hubert_dir)
    samples = round(seconds * 16_000)
    assert abs(hubert_frames(samples, model) - 49.9 * seconds) <= 1
    if seconds == 2.0:
        assert hubert_features(model, torch.zeros(1, samples)).shape[1] == hubert_frames(samples, model)


def test_load_hubert_refuses_prenorm_or_shallow_models(tmp_path):
    from transformers import HubertModel

    from bark_vocos.testing import tiny_hubert_config

    config = tiny_hubert_config()
    config.do_stable_layer_norm = True
    HubertModel(config).save_pretrained(tmp_path / "prenorm")
    with pytest.raises(ValueError, match="pre-norm HuBERT"):
        load_hubert(tmp_path / "prenorm")
    config = tiny_hubert_config()
    config.num_hidden_layers = 4
    HubertModel(config).save_pretrained(tmp_path / "shallow")
    with pytest.raises(ValueError, match="has 4 layers: layer 9 is not one of 1 to 4"):
        load_hubert(tmp_path / "shallow")
    with pytest.raises(ModelNotAvailableError, match="not a HuBERT model"):
        load_hubert(tmp_path)
