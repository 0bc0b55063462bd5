"""Tiny random Bark checkpoints on disk, and `make_tiny` writing one beside a tiny Vocos: RANDOM WEIGHTS, noise.

`make_tiny(DIR)` (the `bark-vocos make-tiny` command) writes:
- `DIR/bark/`: a `BarkModel.save_pretrained` folder (config with semantic/coarse/fine/codec sub-configs,
  `generation_config.json`), BERT WordPiece tokenizer files, and `speaker_embeddings_path.json` with two voice presets
  stored as `.npy` files under `speaker_embeddings/v2/` like suno's repositories (`save_tiny_bark`);
- `DIR/vocos/`: a tiny random Vocos-EnCodec checkpoint (`bark_vocos.tiny.save_tiny_vocos`).

The token layout follows Bark's real one at a small scale: semantic ids `[0, TINY_SEMANTIC_VOCAB)`, then the end/pad
token, then the text ids at `text_encoding_offset`; the coarse model sees semantic ids plus two EnCodec codebooks of
1024 bins each (the real codebook size, so the codes are valid input for any EnCodec-24 kHz vocoder).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import torch

from .permissions import new_folder
from .tiny import RANDOM_WEIGHTS_MARKER, save_tiny_vocos

__all__ = ["TINY_VOICE_PRESETS", "make_tiny", "save_tiny_bark", "save_tiny_tokenizer"]


def _check_seed(seed: int) -> int:
    """`seed` if it is a whole number in `[0, 2**64 - 1]` (what torch and numpy take), as the pipeline checks it."""
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise TypeError(f"seed must be a whole number, got {seed!r}")
    if not 0 <= seed <= 2**64 - 1:
        raise ValueError(f"seed must be in [0, 2**64 - 1], got {seed}")
    return seed


TINY_VOICE_PRESETS = ("v2/en_speaker_0", "v2/en_speaker_1")

TINY_SEMANTIC_VOCAB = 64  # real Bark: 10_000
CODEBOOK_SIZE = 1024  # real Bark and EnCodec 24 kHz: 1024 bins per codebook
N_COARSE = 2
N_FINE = 8

# A small cased WordPiece vocabulary: specials, every ASCII letter/digit/punctuation mark as a word start and as a
# "##" continuation (so any ASCII text tokenizes without [UNK]), and a few whole words.
_WORDS = "Hello hello my dog is cute the a and of to in it that was he she you I [laughs] laughs".split()


_BARK_RANDOM_NOTE = (
    "Random weights written by `bark-vocos make-tiny` for offline tests: audio made with them is noise.\n"
)


def _tiny_vocab() -> list[str]:
    chars = [chr(c) for c in range(33, 127)]
    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"] + chars
    vocab += ["##" + c for c in chars if c.isalnum()]
    vocab += [w for w in _WORDS if w not in vocab]
    return vocab


def _generation_config(text_vocab_size: int):
    from transformers.models.bark.generation_configuration_bark import BarkGenerationConfig

    text_encoding_offset = TINY_SEMANTIC_VOCAB + 8
    text_pad_token = text_encoding_offset + text_vocab_size
    coarse_semantic_pad_token = TINY_SEMANTIC_VOCAB + N_COARSE * CODEBOOK_SIZE
    semantic = {
        "eos_token_id": TINY_SEMANTIC_VOCAB,
        "max_new_tokens": 32,  # real: 768 (about 15 s); 32 tokens give 48 frames (0.64 s)
        "do_sample": True,
        "temperature": 0.7,
        "text_encoding_offset": text_encoding_offset,
        "text_pad_token": text_pad_token,
        "semantic_infer_token": text_pad_token + 4,
        "semantic_vocab_size": TINY_SEMANTIC_VOCAB,
        "max_input_semantic_length": 256,  # Bark's real text limit, so chunking is tested against it
        "semantic_rate_hz": 49.9,
    }
    coarse = {
        "do_sample": True,
        "temperature": 0.7,
        "coarse_semantic_pad_token": coarse_semantic_pad_token,
        "coarse_rate_hz": 75,
        "n_coarse_codebooks": N_COARSE,
        "coarse_infer_token": coarse_semantic_pad_token + 2,
        "max_coarse_input_length": 64,  # real: 256
        "max_coarse_history": 60,  # real: 630
        "sliding_window_len": 30,  # real: 60; 96 coarse tokens take 4 windows
    }
    fine = {"temperature": 0.5, "max_fine_history_length": 32, "max_fine_input_length": 64, "n_fine_codebooks": N_FINE}
    return BarkGenerationConfig(
        semantic_config=semantic,
        coarse_acoustics_config=coarse,
        fine_acoustics_config=fine,
        codebook_size=CODEBOOK_SIZE,
    )


def save_tiny_tokenizer(path: str | os.PathLike) -> None:
    """Write the small cased WordPiece tokenizer (BERT's file layout, as in suno's repositories) into folder `path`:
    any ASCII text tokenizes without `[UNK]`, into ids below 300."""
    from transformers import BertTokenizer

    vocab = _tiny_vocab()
    path = Path(path)
    (path / "vocab.txt").write_text("\n".join(vocab) + "\n", encoding="utf-8")
    BertTokenizer(vocab={token: i for i, token in enumerate(vocab)}, do_lower_case=False).save_pretrained(path)


def save_tiny_bark(path: str | os.PathLike, *, seed: int = 0) -> Path:
    """Write a tiny random Bark checkpoint folder (model, generation config, tokenizer, two voice presets).

    Args:
        path: Folder to write (created if missing).
        seed: Seed for the random weights and voice presets; the same seed writes the same files.

    Returns:
        The folder, loadable by `BarkModel.from_pretrained` and `BarkProcessor.from_pretrained`.
    """
    from transformers import BarkConfig, BarkModel, EncodecConfig, GenerationConfig

    seed = _check_seed(seed)
    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    # the marker first: a folder cut short by a crash is still marked as noise
    (path / RANDOM_WEIGHTS_MARKER).write_text(_BARK_RANDOM_NOTE, encoding="utf-8")
    vocab = _tiny_vocab()
    generation_config = _generation_config(len(vocab))
    sem = generation_config.semantic_config
    coarse = generation_config.coarse_acoustics_config
    fine = generation_config.fine_acoustics_config
    sub = {"num_layers": 1, "num_heads": 2, "hidden_size": 32}
    config = BarkConfig(
        semantic_config={
            **sub,
            "block_size": sem.max_input_semantic_length + 1 + sem.max_new_tokens,
            "input_vocab_size": sem.semantic_infer_token + 1,
            "output_vocab_size": sem.text_encoding_offset,
        },
        coarse_acoustics_config={
            **sub,
            "block_size": coarse.max_coarse_input_length + 1 + coarse.max_coarse_history + coarse.sliding_window_len,
            "input_vocab_size": coarse.coarse_infer_token + 1,
            "output_vocab_size": coarse.coarse_infer_token + 1,
        },
        fine_acoustics_config={
            **sub,
            "block_size": fine.max_fine_input_length,
            "input_vocab_size": CODEBOOK_SIZE + 1,
            "output_vocab_size": CODEBOOK_SIZE,
            "n_codes_total": N_FINE,
            "n_codes_given": N_COARSE - 1,
        },
        codec_config=EncodecConfig(
            hidden_size=16, num_filters=4, num_lstm_layers=1, codebook_size=CODEBOOK_SIZE
        ).to_dict(),
    )
    torch.manual_seed(seed)
    model = BarkModel(config).eval()
    # BarkModel keeps its generation config as a plain GenerationConfig whose sub-configs are dicts (as in suno's
    # generation_config.json); BarkModel.generate rebuilds the Bark*GenerationConfig classes from them.
    model.generation_config = GenerationConfig.from_dict(generation_config.to_dict())
    model.save_pretrained(path)

    save_tiny_tokenizer(path)

    rng = np.random.default_rng(seed)
    index: dict[str, object] = {"repo_or_path": "."}  # BarkProcessor.from_pretrained replaces it
    for preset in TINY_VOICE_PRESETS:
        frames = 30
        arrays = {
            "semantic_prompt": rng.integers(0, TINY_SEMANTIC_VOCAB, size=20, dtype=np.int64),
            "coarse_prompt": rng.integers(0, CODEBOOK_SIZE, size=(N_COARSE, frames), dtype=np.int64),
            "fine_prompt": rng.integers(0, CODEBOOK_SIZE, size=(N_FINE, frames), dtype=np.int64),
        }
        entry = {}
        for key, array in arrays.items():
            relative = f"speaker_embeddings/{preset}_{key}.npy"
            (path / relative).parent.mkdir(parents=True, exist_ok=True)
            np.save(path / relative, array, allow_pickle=False)
            entry[key] = relative
        index[preset] = entry
    (path / "speaker_embeddings_path.json").write_text(json.dumps(index, indent=2) + "\n", encoding="utf-8")
    return path


def make_tiny(path: str | os.PathLike, *, seed: int = 0) -> Path:
    """Write `path/bark/` (tiny random Bark) and `path/vocos/` (tiny random Vocos-EnCodec). Random weights: noise.

    All or nothing: `path` must be new or an empty folder (an existing checkpoint is never overwritten), and if
    writing fails or is interrupted, what was written is removed again.

    Args:
        path: Folder to write: new, or an existing empty folder.
        seed: Seed for every random weight, in `[0, 2**64 - 1]`; the same seed writes the same checkpoints.

    Returns:
        `path`, for `TextToWavPipeline.from_pretrained(bark=path / "bark", vocoder=path / "vocos")`.

    Raises:
        FileExistsError: `path` is a file or a folder that is not empty.
        ValueError: A seed out of range.
    """
    seed = _check_seed(seed)
    with new_folder(path) as folder:
        save_tiny_bark(folder / "bark", seed=seed)
        save_tiny_vocos(folder / "vocos", seed=seed)  # writes its own RANDOM_WEIGHTS.txt marker first
    return folder
