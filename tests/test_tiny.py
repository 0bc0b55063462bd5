"""make-tiny: tiny random Bark (and Vocos) checkpoints in the real layouts, loadable by the real loaders."""

import json

import numpy as np
import pytest
from transformers import BarkModel, BarkProcessor

from bark_vocos.bark import BarkGenerationConfigs
from bark_vocos.testing import TINY_VOICE_PRESETS, save_tiny_bark
from pipelines.commands import main


def test_tiny_bark_is_a_real_bark_folder(tiny_bark_dir):
    names = {p.name for p in tiny_bark_dir.iterdir()}
    assert {"config.json", "generation_config.json", "model.safetensors", "tokenizer_config.json", "vocab.txt",
            "speaker_embeddings_path.json", "speaker_embeddings", "RANDOM_WEIGHTS.txt"} <= names  # fmt: skip
    config = json.loads((tiny_bark_dir / "config.json").read_text())
    for sub in ("semantic_config", "coarse_acoustics_config", "fine_acoustics_config", "codec_config"):
        assert sub in config
    model, info = BarkModel.from_pretrained(tiny_bark_dir, output_loading_info=True)
    assert not info["missing_keys"] and not info["unexpected_keys"] and not info["mismatched_keys"]
    assert model.config.semantic_config.hidden_size == 32 and model.config.semantic_config.num_layers == 1


def test_generation_config_is_consistent_with_the_vocabularies(tiny_bark_dir):
    model = BarkModel.from_pretrained(tiny_bark_dir)
    processor = BarkProcessor.from_pretrained(tiny_bark_dir)
    configs = BarkGenerationConfigs.from_bark(model)
    sem, coarse, fine = configs.semantic, configs.coarse, configs.fine
    text_vocab = len(processor.tokenizer)
    assert sem.semantic_pad_token == sem.semantic_vocab_size  # the end token follows the semantic ids
    assert model.config.semantic_config.output_vocab_size == sem.text_encoding_offset
    assert sem.text_pad_token == sem.text_encoding_offset + text_vocab
    assert model.config.semantic_config.input_vocab_size == sem.semantic_infer_token + 1
    assert coarse.coarse_semantic_pad_token == sem.semantic_vocab_size + 2 * configs.codebook_size
    assert model.config.coarse_acoustics_config.output_vocab_size > coarse.coarse_infer_token
    assert configs.codebook_size == 1024 and model.config.fine_acoustics_config.output_vocab_size == 1024
    assert model.config.semantic_config.block_size >= sem.max_input_semantic_length + 1 + sem.max_new_tokens
    assert model.config.fine_acoustics_config.block_size >= fine.max_fine_input_length
    assert model.generation_config.semantic_config["max_input_semantic_length"] == 256


def test_processor_loads_presets_by_name_and_tokenizes(tiny_bark_dir):
    processor = BarkProcessor.from_pretrained(tiny_bark_dir)
    assert processor.available_voice_presets == list(TINY_VOICE_PRESETS)
    inputs = processor("Hello, my dog is cute [laughs]", voice_preset="v2/en_speaker_1")
    assert inputs["input_ids"].shape == (1, 256)
    ids = inputs["input_ids"][0][inputs["attention_mask"][0].bool()]
    tokens = processor.tokenizer.convert_ids_to_tokens(ids.tolist())
    assert tokens == ["Hello", ",", "my", "dog", "is", "cute", "[", "laughs", "]"]
    assert "[UNK]" not in processor.tokenizer.tokenize("Zebra quiz 42 jumps!")
    history = inputs["history_prompt"]
    assert history["semantic_prompt"].ndim == 1 and history["coarse_prompt"].shape[0] == 2
    assert history["fine_prompt"].shape == (8, history["coarse_prompt"].shape[1])
    saved = np.load(tiny_bark_dir / "speaker_embeddings" / "v2" / "en_speaker_1_fine_prompt.npy")
    np.testing.assert_array_equal(history["fine_prompt"].numpy(), saved)


def test_same_seed_same_checkpoint(tiny_bark_dir, tmp_path):
    again = save_tiny_bark(tmp_path / "bark", seed=0)
    for name in ("model.safetensors", "speaker_embeddings/v2/en_speaker_0_coarse_prompt.npy", "vocab.txt"):
        assert (again / name).read_bytes() == (tiny_bark_dir / name).read_bytes()


def test_make_tiny_command_writes_bark_and_vocos(tiny_dir, tmp_path, capsys):
    assert main(["make-tiny", str(tmp_path / "t")]) == 0
    out = capsys.readouterr().out
    assert "RANDOM" in out and "noise" in out
    assert (tmp_path / "t" / "bark" / "config.json").is_file()
    assert (tmp_path / "t" / "vocos" / "RANDOM_WEIGHTS.txt").is_file()
    assert {p.name for p in (tmp_path / "t" / "vocos").iterdir()} == {p.name for p in (tiny_dir / "vocos").iterdir()}


@pytest.mark.parametrize("layout", ["bark", "vocos"])
def test_tiny_dir_layout(tiny_dir, layout):
    assert (tiny_dir / layout).is_dir() and any((tiny_dir / layout).iterdir())
