"""Tiny random VocosEncodec checkpoints on disk, for tests and smoke runs: RANDOM WEIGHTS, the audio is noise."""

from __future__ import annotations

import os
from pathlib import Path

import torch
import yaml
from transformers import EncodecConfig, EncodecModel

from .vocos.configuration_vocos_encodec import VocosEncodecConfig
from .vocos.conversion import original_key_for
from .vocos.feature_extraction_vocos_encodec import VocosFeatureExtractor
from .vocos.modeling_vocos_encodec import VocosEncodecModel
from .vocos.processing_vocos_encodec import VocosEncodecProcessor
from .vocos.reference import original_config_yaml

__all__ = [
    "AUDIO_TOKENIZER_FOLDER",
    "RANDOM_WEIGHTS_MARKER",
    "is_random_checkpoint",
    "save_tiny_vocos",
    "tiny_encodec",
    "tiny_vocos_config",
]

AUDIO_TOKENIZER_FOLDER = "audio_tokenizer"
# A file written into every tiny checkpoint so that commands can say the output is noise.
RANDOM_WEIGHTS_MARKER = "RANDOM_WEIGHTS.txt"


def is_random_checkpoint(name_or_path: str | os.PathLike) -> bool:
    """Whether `name_or_path` is a local folder written by `save_tiny_vocos` (random weights, noise output)."""
    return (Path(name_or_path) / RANDOM_WEIGHTS_MARKER).is_file()


def tiny_vocos_config() -> VocosEncodecConfig:
    """A VocosEncodec config with 16-dim codebooks, hidden size 32 and 2 layers (the real 1280/320 ISTFT)."""
    return VocosEncodecConfig(codebook_dim=16, hidden_size=32, intermediate_size=64, num_layers=2)


def tiny_encodec(seed: int = 0) -> EncodecModel:
    """A random EnCodec 24 kHz look-alike: 75 frames/s, 16 codebooks of 1024 x 16, a few hundred kB of weights.

    Its codebooks are drawn at random (EnCodec starts them at zero until trained), so codes differ across inputs.
    """
    torch.manual_seed(seed)
    config = EncodecConfig(
        target_bandwidths=[1.5, 3.0, 6.0, 12.0],
        hidden_size=16,
        num_filters=4,
        num_residual_layers=1,
        num_lstm_layers=1,
        codebook_dim=16,
        use_causal_conv=False,
    )
    model = EncodecModel(config).eval()
    with torch.no_grad():
        for layer in model.quantizer.layers:
            layer.codebook.embed.normal_()
            layer.codebook.embed_avg.copy_(layer.codebook.embed)
    return model


def save_tiny_vocos(path: str | os.PathLike, *, layout: str = "transformers", seed: int = 0) -> Path:
    """Writes a tiny random VocosEncodec checkpoint to `path` (RANDOM WEIGHTS: it makes noise, not speech).

    - `layout="transformers"`: `config.json` + `model.safetensors` (the vocoder), `processor_config.json` (the
      feature extractor and a reference to the EnCodec audio tokenizer) and the tiny random EnCodec itself in
      `path/audio_tokenizer/`, exactly as `save_pretrained` writes them. The vocoder's codebook table is the
      EnCodec's codebooks, so `processor(audio=...)` and `model(codes=...)` agree.
    - `layout="original"`: `config.yaml` (class_path/init_args) + `pytorch_model.bin` as in
      charactr/vocos-encodec-24khz, with the same weights (no processor: the original has none).

    Both also get `RANDOM_WEIGHTS.txt`, which `is_random_checkpoint` looks for.

    The processor config refers to the EnCodec folder by its absolute path: move the folder and
    `VocosEncodecProcessor.from_pretrained` no longer finds it (the model itself still loads).

    Args:
        path: Folder to write (created if missing).
        layout: "transformers" or "original".
        seed: Seed of the random weights; the same seed writes the same tensors.

    Returns:
        `path` as a `Path`.
    """
    if layout not in ("transformers", "original"):
        raise ValueError(f"layout {layout!r} is not supported; valid layouts are 'transformers', 'original'")
    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    (path / RANDOM_WEIGHTS_MARKER).write_text(
        f"Tiny VocosEncodec with RANDOM weights (seed {seed}, {layout} layout), written by "
        "bark_vocos.tiny.save_tiny_vocos for tests: its audio is noise, not speech.\n",
        encoding="utf-8",
    )
    encodec = tiny_encodec(seed)
    torch.manual_seed(seed)
    model = VocosEncodecModel(tiny_vocos_config()).eval()
    with torch.no_grad():
        for parameter in model.parameters():  # visible randomness everywhere, not only in the linear layers
            parameter.add_(0.05 * torch.randn_like(parameter))
        model.codebook_weights.copy_(torch.cat([layer.codebook.embed for layer in encodec.quantizer.layers]))
    if layout == "original":
        _save_original(model, path)
        return path
    model.save_pretrained(path)
    encodec.save_pretrained(path / AUDIO_TOKENIZER_FOLDER)
    # Reloaded so that the processor records where its audio tokenizer lives (`name_or_path`).
    encodec = EncodecModel.from_pretrained(path.resolve() / AUDIO_TOKENIZER_FOLDER)
    VocosEncodecProcessor(VocosFeatureExtractor(), encodec).save_pretrained(path)
    return path


def _save_original(model: VocosEncodecModel, path: Path) -> None:
    """Writes `model` as config.yaml + pytorch_model.bin in the original key names."""
    config = model.config
    yaml_config = original_config_yaml(
        dim=config.hidden_size,
        intermediate_dim=config.intermediate_size,
        num_layers=config.num_layers,
        n_fft=config.n_fft,
        hop_length=config.hop_length,
        input_channels=config.codebook_dim,
        bandwidths=tuple(config.bandwidths),
    )
    yaml_config["backbone"]["init_args"]["layer_scale_init_value"] = config.layer_scale_init_value
    ours = model.state_dict()
    original = {}
    for original_key in _original_keys(config.num_layers):
        original[original_key] = ours[original_key_for(original_key)].clone()
    (path / "config.yaml").write_text(yaml.safe_dump(yaml_config, sort_keys=False), encoding="utf-8")
    torch.save(original, path / "pytorch_model.bin")


def _original_keys(num_layers: int) -> list[str]:
    keys = ["feature_extractor.codebook_weights", "backbone.embed.weight", "backbone.embed.bias"]
    keys += ["backbone.norm.scale.weight", "backbone.norm.shift.weight"]
    for index in range(num_layers):
        prefix = f"backbone.convnext.{index}."
        keys += [prefix + name for name in ("dwconv.weight", "dwconv.bias", "norm.scale.weight", "norm.shift.weight")]
        keys += [prefix + name for name in ("pwconv1.weight", "pwconv1.bias", "pwconv2.weight", "pwconv2.bias")]
        keys.append(prefix + "gamma")
    keys += ["backbone.final_layer_norm.weight", "backbone.final_layer_norm.bias"]
    return keys + ["head.out.weight", "head.out.bias", "head.istft.window"]
