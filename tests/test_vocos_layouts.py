"""Every published Vocos-EnCodec layout, the transformers port's API (PR #39403) and its model card, `inspect`."""

import json
import logging
import shutil

import numpy as np
import pytest
import torch

from bark_vocos import VocosEncodecModel, VocosEncodecProcessor
from bark_vocos.testing import PORT_FEATURE_EXTRACTOR, save_tiny_vocos
from bark_vocos.vocos.layouts import UnknownLayoutError, detect_layout
from pipelines.commands import main

# fixture name -> (save_tiny_vocos arguments, layout name, weights file, processor files)
LAYOUT_FIXTURES = {
    "port": ({}, "vocos_encodec", "model.safetensors", ["processor_config.json"]),
    "port_bin": ({"weights": "bin"}, "vocos_encodec", "pytorch_model.bin", ["processor_config.json"]),
    "port_preprocessor": (
        {"processor_file": "preprocessor_config.json"},
        "vocos_encodec",
        "model.safetensors",
        ["processor_config.json", "preprocessor_config.json"],
    ),
    "earlier_port": ({"layout": "vocos"}, "vocos", "pytorch_model.bin", []),
    "earlier_port_safetensors": ({"layout": "vocos", "weights": "safetensors"}, "vocos", "model.safetensors", []),
    "original": ({"layout": "original"}, "original", "pytorch_model.bin", []),
}


@pytest.fixture(scope="module")
def folders(tmp_path_factory):
    root = tmp_path_factory.mktemp("layouts")
    return {name: save_tiny_vocos(root / name, seed=0, **kwargs) for name, (kwargs, *_) in LAYOUT_FIXTURES.items()}


@pytest.fixture(scope="module")
def port(folders):
    return folders["port"]


@pytest.fixture(scope="module")
def processor(port):
    return VocosEncodecProcessor.from_pretrained(port)


@pytest.fixture(scope="module")
def model(port):
    return VocosEncodecModel.from_pretrained(port)


def noise(samples, seed=0):
    return 0.3 * np.random.default_rng(seed).standard_normal(samples).astype(np.float32)


def test_fixtures_are_written_as_each_layout_is_published(folders):
    port = folders["port"]
    config = json.loads((port / "config.json").read_text())
    assert config["model_type"] == "vocos_encodec" and config["istft_padding"] == "same"
    saved = json.loads((port / "processor_config.json").read_text())
    assert saved["feature_extractor"] == PORT_FEATURE_EXTRACTOR  # the port's mel feature extractor, hop 256
    assert saved["audio_tokenizer"]["audio_tokenizer_class"] == "EncodecModel"
    older = folders["port_preprocessor"]
    assert "feature_extractor" not in json.loads((older / "processor_config.json").read_text())
    assert json.loads((older / "preprocessor_config.json").read_text())["hop_length"] == 256
    earlier = json.loads((folders["earlier_port"] / "config.json").read_text())
    assert earlier["model_type"] == "vocos_with_encodec" and earlier["use_adaptive_norm"] is True
    assert {"input_channels", "hidden_dim", "spec_padding", "adanorm_num_embeddings"} <= set(earlier)
    keys = set(torch.load(folders["earlier_port"] / "pytorch_model.bin", weights_only=True))
    assert {"codebook_weights", "head.out_proj.weight", "head.window", "backbone.layers.1.norm.bias"} <= keys
    assert any(key.startswith("encodec_model.") for key in keys)
    assert (folders["original"] / "config.yaml").is_file()


@pytest.mark.parametrize("name", list(LAYOUT_FIXTURES))
def test_each_layout_is_detected_and_decodes_the_same_codes_to_the_same_audio(folders, model, name):
    _, layout_name, weights, processor_files = LAYOUT_FIXTURES[name]
    layout = detect_layout(folders[name])
    assert layout.name == layout_name and layout.weights_file.name == weights
    assert [path.name for path in layout.processor_files] == processor_files
    loaded = VocosEncodecModel.from_pretrained(folders[name])
    codes = torch.randint(0, 1024, (8, 2, 9), generator=torch.Generator().manual_seed(1))
    with torch.inference_mode():
        expected = model(codes=codes).audio
        assert torch.equal(loaded(codes=codes).audio, expected)
    assert expected.shape == (2, 9 * 320)


@pytest.mark.parametrize("name", ["port", "port_bin", "port_preprocessor"])
def test_the_ports_processor_folders_load_and_keep_encodec_frames_at_320(folders, name):
    processor = VocosEncodecProcessor.from_pretrained(folders[name])
    assert processor.feature_extractor.hop_length == 256  # the saved mel value is kept ...
    assert processor.frame_length == 320  # ... but EnCodec frames are 320 samples
    inputs = processor(audio=noise(24000), bandwidth=6.0, sampling_rate=24000)
    assert inputs["input_features"].shape == (1, 16, 75)


@pytest.mark.parametrize(("samples", "frames"), [(24000, 75), (23999, 75), (140800, 440), (321, 2)])
def test_audio_of_any_length_gives_frames_times_320_and_a_trimming_mask(processor, model, samples, frames):
    inputs = processor(audio=noise(samples), bandwidth=6.0, sampling_rate=24000)
    assert inputs["input_features"].shape == (1, 16, frames)
    assert inputs["attention_mask"].shape == (1, frames * 320)
    with torch.inference_mode():
        output = model(**inputs)
    assert output.audio.shape == (1, frames * 320)
    assert output.audio[0][output.attention_mask[0].bool()].shape == (samples,)


def test_batch_of_two_lengths_and_lists_of_codes_use_320_sample_frames(processor, model):
    inputs = processor(audio=[noise(24000, 1), noise(23999 + 3200, 2)], bandwidth=3.0, sampling_rate=24000)
    assert inputs["input_features"].shape == (2, 16, 85)
    with torch.inference_mode():
        output = model(**inputs)
    trimmed = [audio[mask.bool()] for audio, mask in zip(output.audio, output.attention_mask, strict=True)]
    assert [len(item) for item in trimmed] == [24000, 27199]
    codes = processor(codes=[torch.randint(0, 1024, (4, length)) for length in (5, 9)])
    assert codes["attention_mask"].shape == (2, 9 * 320)
    assert codes["attention_mask"].sum(dim=1).tolist() == [5 * 320, 9 * 320]


def test_padding_argument_is_accepted_as_the_port_takes_it(processor):
    audio = [noise(1000, 1), noise(700, 2)]
    padded = processor(audio=audio, bandwidth=6.0, sampling_rate=24000, padding=True)
    assert padded["attention_mask"].sum(dim=1).tolist() == [1000, 700]
    assert torch.equal(processor(audio=audio, bandwidth=6.0, sampling_rate=24000, padding="longest")["input_features"],
                       padded["input_features"])  # fmt: skip
    same = processor(audio=[noise(640, 1), noise(640, 2)], bandwidth=6.0, sampling_rate=24000, padding=False)
    assert same["input_features"].shape == (2, 16, 2)
    with pytest.raises(ValueError, match=r"different lengths \[1000, 700\] need padding=True"):
        processor(audio=audio, bandwidth=6.0, sampling_rate=24000, padding=False)
    with pytest.raises(ValueError, match=r"padding='max_length' is not supported; valid values are \[True, 'longest'"):
        processor(audio=audio, bandwidth=6.0, sampling_rate=24000, padding="max_length")


def test_attention_mask_is_always_returned(processor):
    one = processor(audio=noise(640), bandwidth=6.0, sampling_rate=24000)
    assert one["attention_mask"].tolist() == [[1] * 640]
    equal = processor(audio=np.stack([noise(640, 1), noise(640, 2)]), bandwidth=6.0, sampling_rate=24000)
    assert equal["attention_mask"].shape == (2, 640) and bool(equal["attention_mask"].all())
    codes = processor(codes=torch.zeros(8, 3, dtype=torch.long))
    assert codes["attention_mask"].shape == (1, 960) and bool(codes["attention_mask"].all())


def test_forward_takes_the_ports_positional_order_and_extra_keyword_arguments(processor, model, caplog):
    inputs = processor(audio=[noise(1000, 1), noise(700, 2)], bandwidth=6.0, sampling_rate=24000)
    with torch.inference_mode():
        by_name = model(**inputs)
        positional = model(inputs["input_features"], inputs["attention_mask"], 6.0)
        as_tensor = model(inputs["input_features"], inputs["attention_mask"], torch.tensor(6.0))  # port's BatchFeature
        with caplog.at_level(logging.WARNING, logger="bark_vocos"):
            extra = model(**inputs, output_hidden_states=False, output_attentions=False, padding_mask=None)
    assert torch.equal(positional.audio, by_name.audio) and torch.equal(
        positional.attention_mask, by_name.attention_mask
    )
    assert torch.equal(extra.audio, by_name.audio) and torch.equal(as_tensor.audio, by_name.audio)
    assert "padding_mask" in caplog.text and "output_hidden_states" not in caplog.text


def test_processor_takes_the_cards_bandwidth_id(processor, model):
    codes = torch.randint(0, 1024, (8, 200), generator=torch.Generator().manual_seed(2))
    by_id = processor(codes=codes, bandwidth_id=2)
    assert by_id["bandwidth"] == 6.0
    assert torch.equal(by_id["input_features"], processor(codes=codes, bandwidth=6.0)["input_features"])
    with pytest.raises(ValueError, match="8 codebooks but bandwidth 1.5 kbps uses 2"):
        processor(codes=codes, bandwidth_id=0)
    with pytest.raises(ValueError, match=r"bandwidth_id 7 is not valid; valid ids are 0..3"):
        processor(codes=codes, bandwidth_id=7)
    with pytest.raises(ValueError, match="disagree"):
        processor(codes=codes, bandwidth=6.0, bandwidth_id=1)


def test_model_card_snippet_1_audio(port):
    """The card's first snippet with `bark_vocos` for `transformers` (a random clip for the LibriSpeech one)."""
    bandwidth = 6.0
    processor = VocosEncodecProcessor.from_pretrained(port)
    model = VocosEncodecModel.from_pretrained(port, device_map="auto")
    sampling_rate = processor.feature_extractor.sampling_rate
    audio = noise(140800)
    inputs = processor(audio=audio, bandwidth=bandwidth, sampling_rate=sampling_rate).to(model.device)
    assert inputs.input_features.shape == (1, 16, 440)  # the card's [1, 128, 440] with our tiny codebook_dim
    outputs = model(**inputs)
    audio = outputs.audio
    assert audio.shape == (1, 140800)
    assert np.isfinite(audio[0].detach().cpu().numpy()).all()


def test_model_card_snippet_2_codes(port):
    model = VocosEncodecModel.from_pretrained(port)
    processor = VocosEncodecProcessor.from_pretrained(port)
    audio_codes = torch.randint(low=0, high=1024, size=(8, 200))
    bandwidth_id = 2  # the card leaves it undefined; 2 is 6 kbps, the bandwidth of 8 codebooks
    inputs = processor(codes=audio_codes, bandwidth_id=bandwidth_id)
    audio = model(**inputs).audio
    assert audio.shape == (1, 200 * 320)
    batched = model(**processor(codes=torch.randint(0, 1024, (8, 3, 50)), bandwidth=6.0)).audio
    assert batched.shape == (3, 50 * 320)


def test_model_card_snippet_3_bark(tiny_dir, port):
    """The card's Bark snippet, line for line, on the tiny random Bark (its codes are noise, not speech)."""
    from transformers import BarkModel, BarkProcessor
    from transformers.models.bark.generation_configuration_bark import (
        BarkCoarseGenerationConfig,
        BarkFineGenerationConfig,
        BarkSemanticGenerationConfig,
    )

    bark_processor = BarkProcessor.from_pretrained(tiny_dir / "bark")
    bark = BarkModel.from_pretrained(tiny_dir / "bark", device_map="auto")
    bark_inputs = bark_processor("We've been messing around with this new model called Vocos.", return_tensors="pt")
    bark_inputs = bark_inputs.to(bark.device)
    semantic_generation_config = BarkSemanticGenerationConfig(**bark.generation_config.semantic_config)
    coarse_generation_config = BarkCoarseGenerationConfig(**bark.generation_config.coarse_acoustics_config)
    fine_generation_config = BarkFineGenerationConfig(**bark.generation_config.fine_acoustics_config)
    torch.manual_seed(0)
    semantic_tokens = bark.semantic.generate(**bark_inputs, semantic_generation_config=semantic_generation_config)
    coarse_tokens = bark.coarse_acoustics.generate(
        semantic_tokens,
        semantic_generation_config=semantic_generation_config,
        coarse_generation_config=coarse_generation_config,
        codebook_size=bark.generation_config.codebook_size,
    )
    fine_tokens = bark.fine_acoustics.generate(
        coarse_tokens,
        semantic_generation_config=semantic_generation_config,
        coarse_generation_config=coarse_generation_config,
        fine_generation_config=fine_generation_config,
        codebook_size=bark.generation_config.codebook_size,
    )
    codes = fine_tokens.squeeze(0)
    assert codes.shape[0] == 8
    processor = VocosEncodecProcessor.from_pretrained(port)
    model = VocosEncodecModel.from_pretrained(port, device_map="auto")
    inputs = processor(codes=codes.to("cpu"), bandwidth=6.0).to(model.device)
    audio = model(**inputs).audio
    assert audio.shape == (1, codes.shape[-1] * 320)


def test_codebooks_that_do_not_match_the_bandwidth_stay_a_clear_error(processor, model):
    codes = torch.zeros(4, 10, dtype=torch.long)
    with pytest.raises(ValueError, match="4 codebooks but bandwidth 6.0 kbps uses 8"):
        processor(codes=codes, bandwidth=6.0)
    with pytest.raises(ValueError, match="4 codebooks but bandwidth 6.0 kbps uses 8"):
        model(codes=codes, bandwidth=6.0)


def test_cached_envelope_survives_inference_mode_then_autograd(model):
    """issue 12 item 3: a call under inference_mode, then one of the same length with gradients on."""
    features = model.codes_to_features(torch.randint(0, 1024, (8, 1, 13)))
    with torch.inference_mode():
        first = model(features, bandwidth=6.0).audio
    features = features.clone().requires_grad_(True)
    second = model(features, bandwidth=6.0).audio
    second.square().sum().backward()
    assert features.grad is not None and features.grad.abs().sum() > 0
    torch.testing.assert_close(second.detach(), first, rtol=0, atol=1e-5)


def test_stereo_is_refused_and_a_missing_sampling_rate_warns(processor, caplog):
    """issue 12 item 12: (T, 2) is not T clips; no silent 24 kHz assumption."""
    stereo = np.stack([noise(4800, 1), noise(4800, 2)], axis=1)
    with pytest.raises(ValueError, match=r"shape \(4800, 2\) looks like 2-channel audio.*audio.mean\(axis=1\)"):
        processor(audio=stereo, bandwidth=6.0, sampling_rate=24000)
    downmixed = processor(audio=stereo.mean(axis=1), bandwidth=6.0, sampling_rate=24000)
    assert downmixed["input_features"].shape == (1, 16, 15)
    with caplog.at_level(logging.WARNING, logger="bark_vocos"):
        processor(audio=noise(640), bandwidth=6.0, sampling_rate=24000)
        assert "sampling_rate" not in caplog.text
        processor(audio=noise(640), bandwidth=6.0)
    assert "No sampling_rate was given" in caplog.text and "24000 Hz" in caplog.text


def copy_config_only(source, destination, config):
    destination.mkdir()
    (destination / "config.json").write_text(json.dumps(config))
    shutil.copy(source / "model.safetensors", destination / "model.safetensors")
    return destination


def test_unknown_layouts_are_named_not_key_errors(port, tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(UnknownLayoutError, match="neither config.json nor config.yaml.*Known layouts: vocos_encodec"):
        VocosEncodecModel.from_pretrained(empty)
    bark = copy_config_only(port, tmp_path / "bark", {"model_type": "bark"})
    with pytest.raises(UnknownLayoutError, match=r"model_type 'bark' \(files found: config.json\)"):
        detect_layout(bark)
    mel = copy_config_only(port, tmp_path / "mel", {"model_type": "vocos", "use_adaptive_norm": False})
    with pytest.raises(ValueError, match="mel-spectrogram Vocos"):
        VocosEncodecModel.from_pretrained(mel)
    no_weights = tmp_path / "no_weights"
    no_weights.mkdir()
    shutil.copy(port / "config.json", no_weights / "config.json")
    with pytest.raises(UnknownLayoutError, match=r"no weights \(model.safetensors or pytorch_model.bin\)"):
        detect_layout(no_weights)


def test_earlier_port_keys_are_converted_strictly(folders, tmp_path):
    folder = tmp_path / "earlier"
    shutil.copytree(folders["earlier_port"], folder)
    state = torch.load(folder / "pytorch_model.bin", weights_only=True)
    state.pop("backbone.layers.0.layer_scale_parameter")
    state["head.extra"] = torch.zeros(1)
    torch.save(state, folder / "pytorch_model.bin")
    with pytest.raises(
        ValueError, match=r"missing tensors: layers.0.layer_scale_parameter; unexpected tensors: head.extra"
    ):
        VocosEncodecModel.from_pretrained(folder)


@pytest.mark.parametrize("name", list(LAYOUT_FIXTURES))
def test_inspect_names_the_layout_and_what_would_load(folders, name, capsys):
    _, layout_name, weights, processor_files = LAYOUT_FIXTURES[name]
    assert main(["inspect", str(folders[name])]) == 0
    out = capsys.readouterr().out
    assert f"layout:      {layout_name} - " in out and f"weights:     {weights}" in out
    assert "hidden_size: 32" in out and "hop_length: 320" in out and "bandwidths: [1.5, 3.0, 6.0, 12.0]" in out
    assert all(file in out for file in processor_files) and ("none" in out) == (not processor_files)


def test_inspect_of_an_unknown_layout_or_unreachable_id_is_one_line(tmp_path, capsys):
    assert main(["inspect", str(tmp_path)]) == 1
    err = capsys.readouterr().err
    assert err.startswith("bark-vocos: error: ") and "no Vocos-EnCodec checkpoint in a known layout" in err
    assert len(err.strip().splitlines()) == 1
    assert main(["inspect", "nobody/no-such-vocos"]) == 1
    assert "HF_HUB_OFFLINE is set" in capsys.readouterr().err


def test_vocoder_modules_import_no_cycle_and_no_private_names():
    """issue 11: modeling and conversion imported each other; the processor imported modeling's `_check_codes`."""
    import ast
    from pathlib import Path

    package = Path(__file__).resolve().parent.parent / "bark_vocos" / "vocos"
    graph, private = {}, []
    for path in package.glob("*.py"):
        imports = set()
        for node in ast.walk(ast.parse(path.read_text())):  # every import, inside functions too
            if isinstance(node, ast.ImportFrom) and node.level == 1:
                target = node.module or ""
                imports.add(target.split(".")[0])
                private += [f"{path.stem} <- {target}.{alias.name}" for alias in node.names if alias.name[0] == "_"]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and (node.module or "").startswith("bark_vocos"):
                private += [f"{path.stem} <- {node.module}.{a.name}" for a in node.names if a.name[0] == "_"]
        graph[path.stem] = {name for name in imports if (package / f"{name}.py").is_file()} - {path.stem}
    assert private == []

    def reaches(start, goal, seen=()):
        return any(nxt == goal or (nxt not in seen and reaches(nxt, goal, (*seen, nxt))) for nxt in graph[start])

    assert [name for name in graph if reaches(name, name)] == []
    assert (
        "modeling_vocos_encodec" not in graph["conversion"]
        and "modeling_vocos_encodec" not in graph["processing_vocos_encodec"]
    )


def test_inspect_of_a_folder_that_would_not_load_is_an_error(tiny_dir, tmp_path, capsys):
    import shutil

    cut = shutil.copytree(tiny_dir / "vocos", tmp_path / "cut")
    weights = cut / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[: weights.stat().st_size // 2])
    assert main(["inspect", str(cut)]) == 1
    out, err = capsys.readouterr()
    assert out == ""
    assert err.startswith(f"bark-vocos: error: {cut} would not load as VocosEncodecModel: not a valid safetensors")

    pickled = shutil.copytree(tiny_dir / "vocos", tmp_path / "pickled")
    (pickled / "model.safetensors").unlink()
    torch.save({"weight": torch.zeros(1), "code": ValueError("runs on load")}, pickled / "pytorch_model.bin")
    assert main(["inspect", str(pickled)]) == 1
    out, err = capsys.readouterr()
    assert out == "" and err.startswith(f"bark-vocos: error: {pickled} would not load as VocosEncodecModel: ")
