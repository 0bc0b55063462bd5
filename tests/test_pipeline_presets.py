"""Voice presets: names from the Bark folder's speaker embeddings, .npz files, dicts; saving a generation as one."""

import numpy as np
import pytest

from pipelines import TextToWavPipeline
from pipelines.speech.voice_presets import resolve_voice_preset, save_voice_preset

AVAILABLE = ["v2/en_speaker_0", "v2/en_speaker_1"]


def _preset(frames=5):
    return {
        "semantic_prompt": np.arange(7),
        "coarse_prompt": np.ones((2, frames), dtype=np.int32),
        "fine_prompt": np.zeros((8, frames), dtype=np.int64),
    }


def test_resolve_names_files_and_dicts(tmp_path):
    assert resolve_voice_preset(None, AVAILABLE) is None
    assert resolve_voice_preset("v2/en_speaker_1", AVAILABLE) == "v2/en_speaker_1"
    from_dict = resolve_voice_preset(_preset(), AVAILABLE)
    assert from_dict["coarse_prompt"].dtype == np.int64 and from_dict["fine_prompt"].shape == (8, 5)
    path = save_voice_preset(tmp_path / "me.npz", **_preset())
    for name in (path, str(path), str(tmp_path / "me")):  # like BarkProcessor, ".npz" may be left out
        loaded = resolve_voice_preset(name, AVAILABLE)
        for key, value in _preset().items():
            np.testing.assert_array_equal(loaded[key], value)


def test_resolve_errors(tmp_path):
    with pytest.raises(ValueError, match=r"unknown voice preset 'v2/xx'.*2 presets \(v2/en_speaker_0.*--list-voices"):
        resolve_voice_preset("v2/xx", AVAILABLE)
    with pytest.raises(ValueError, match="lacks \\['fine_prompt'\\]"):
        resolve_voice_preset({k: v for k, v in _preset().items() if k != "fine_prompt"}, AVAILABLE)
    with pytest.raises(ValueError, match="'coarse_prompt' must be a 2-D integer array"):
        resolve_voice_preset({**_preset(), "coarse_prompt": np.zeros(3, dtype=np.int64)}, AVAILABLE)
    with pytest.raises(TypeError, match="voice_preset must be"):
        resolve_voice_preset(3, AVAILABLE)
    with pytest.raises(ValueError, match="must end in .npz"):
        save_voice_preset(tmp_path / "x.npy", **_preset())
    assert list(tmp_path.iterdir()) == []


def test_generation_saved_as_preset_is_reusable(tiny_bark_dir, tmp_path):
    pipe = TextToWavPipeline.from_pretrained(bark=tiny_bark_dir, vocoder=None)
    common = dict(seed=0, decoder="encodec", progress=False, semantic_max_new_tokens=12)
    out = pipe("Hello, my dog is cute", voice_preset="v2/en_speaker_0", output_full=True, **common)
    assert out.semantic_tokens.ndim == 1 and out.semantic_tokens.max() < 64
    assert out.coarse_tokens.shape == (2, out.codes.shape[1])
    np.testing.assert_array_equal(out.coarse_tokens, out.codes[:2])  # fine codes keep the coarse codebooks
    path = out.save_voice_preset(tmp_path / "voice.npz")
    with np.load(path) as saved:
        np.testing.assert_array_equal(saved["semantic_prompt"], out.semantic_tokens)
        np.testing.assert_array_equal(saved["fine_prompt"], out.codes)
    from_file = pipe("Is it a dog?", voice_preset=path, **common)
    other = pipe("Is it a dog?", voice_preset="v2/en_speaker_0", **common)
    assert not np.array_equal(from_file.codes, other.codes[:, : from_file.codes.shape[1]])
    plain = pipe("Hello", **common)
    with pytest.raises(ValueError, match="output_full=True"):
        plain.save_voice_preset(tmp_path / "no.npz")


def test_the_pipeline_checks_preset_values_against_its_own_model(tiny_bark_dir):
    pipe = TextToWavPipeline.from_pretrained(bark=tiny_bark_dir, vocoder=None)
    preset = _preset()
    preset["semantic_prompt"] = np.array([3, 64])  # the tiny model has 64 semantic tokens (Bark: 10000)
    with pytest.raises(ValueError, match="semantic_prompt"):
        pipe("Hello", voice_preset=preset, decoder="encodec", progress=False)
