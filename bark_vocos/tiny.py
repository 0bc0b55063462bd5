"""Tiny random VocosEncodec checkpoints on disk, for tests and smoke runs: RANDOM WEIGHTS, the audio is noise.

The tiny random Bark, and `make_tiny` writing both, are `bark_vocos.tiny_bark`'s; `bark_vocos.testing` gathers every
fixture under one name.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import torch
import yaml
from safetensors.torch import save_file
from transformers import EncodecConfig, EncodecModel

from .vocos.configuration_vocos_encodec import VocosEncodecConfig
from .vocos.conversion import key_for
from .vocos.layouts import PROCESSOR_FILES
from .vocos.modeling_vocos_encodec import VocosEncodecModel
from .vocos.reference import original_config_yaml

__all__ = [
    "AUDIO_TOKENIZER_FOLDER",
    "PORT_FEATURE_EXTRACTOR",
    "RANDOM_WEIGHTS_MARKER",
    "TINY_LAYOUTS",
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


def save_tiny_vocos(
    path: str | os.PathLike,
    *,
    layout: str = "transformers",
    seed: int = 0,
    weights: str | None = None,
    processor_file: str = "processor_config.json",
) -> Path:
    """Writes a tiny random VocosEncodec checkpoint to `path` (RANDOM WEIGHTS: it makes noise, not speech).

    Every layout holds the same tensors for the same seed, written exactly as its publisher writes them:

    - `layout="transformers"` (the port's final `vocos_encodec` layout, as its conversion script writes it):
      `config.json` + `model.safetensors` (`weights="bin"`: `pytorch_model.bin`), and the processor folder: the
      port's *mel* `VocosFeatureExtractor` with its defaults (hop 256, ...) plus an `audio_tokenizer` entry naming
      `EncodecModel`, in `processor_config.json` (`processor_file="preprocessor_config.json"`: the feature
      extractor in `preprocessor_config.json`, as older transformers wrote it). The tiny random EnCodec it names
      lies in `path/audio_tokenizer/`, and the vocoder's codebook table is its codebooks, so
      `processor(audio=...)` and `model(codes=...)` agree.
    - `layout="vocos"` (the port's earlier layout, as `Manel/Vocos-Encodec` has it): `config.json` of model_type
      `vocos_with_encodec` with `VocosConfig` fields and `pytorch_model.bin` with `codebook_weights`, `backbone.*`,
      `head.out_proj.*`, `head.window` and the EnCodec's own `encodec_model.*`, as its conversion script wrote them
      (`save_pretrained(safe_serialization=False)`; `weights="safetensors"`: `model.safetensors`); no processor.
    - `layout="original"`: `config.yaml` (class_path/init_args) + `pytorch_model.bin` as in
      charactr/vocos-encodec-24khz (no processor: the original has none).

    All also get `RANDOM_WEIGHTS.txt`, which `is_random_checkpoint` looks for.

    The processor config refers to the EnCodec folder by its absolute path: move the folder and
    `VocosEncodecProcessor.from_pretrained` no longer finds it (the model itself still loads).

    Args:
        path: Folder to write (created if missing).
        layout: "transformers", "vocos" or "original".
        seed: Seed of the random weights; the same seed writes the same tensors.
        weights: "safetensors" or "bin"; default "safetensors" for "transformers", "bin" for "vocos" (the original
            layout is always `pytorch_model.bin`).
        processor_file: "processor_config.json" or "preprocessor_config.json" (transformers layout only).

    Returns:
        `path` as a `Path`.
    """
    if layout not in TINY_LAYOUTS:
        raise ValueError(f"layout {layout!r} is not supported; valid layouts are {list(TINY_LAYOUTS)}")
    weights = weights or ("bin" if layout == "vocos" else "safetensors")
    if weights not in ("safetensors", "bin"):
        raise ValueError(f"weights {weights!r} is not supported; valid values are 'safetensors', 'bin'")
    if processor_file not in PROCESSOR_FILES:
        raise ValueError(
            f"processor_file {processor_file!r} is not supported; valid values are {list(PROCESSOR_FILES)}"
        )
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
    if layout == "vocos":
        _save_earlier_port(model, encodec, path, weights)
        return path
    model.save_pretrained(path)
    if weights == "bin":  # what the port's conversion script writes (save_pretrained(safe_serialization=False))
        torch.save(
            {name: tensor.contiguous() for name, tensor in model.state_dict().items()}, path / "pytorch_model.bin"
        )
        (path / "model.safetensors").unlink()
    encodec.save_pretrained(path / AUDIO_TOKENIZER_FOLDER)
    _save_port_processor(path, processor_file)
    return path


TINY_LAYOUTS = ("transformers", "vocos", "original")

# What the port's processor folder holds for its feature extractor: the mel `VocosFeatureExtractor` with its
# own defaults (the processor uses it only to pad; EnCodec's frame is 320 samples whatever hop_length says).
PORT_FEATURE_EXTRACTOR = {
    "feature_extractor_type": "VocosFeatureExtractor",
    "feature_size": 100,
    "hop_length": 256,
    "n_fft": 1024,
    "num_mel_bins": 100,
    "padding": "center",
    "padding_side": "right",
    "padding_value": 0.0,
    "return_attention_mask": True,
    "sampling_rate": 24000,
    "win_length": 1024,
}


def _save_port_processor(path: Path, processor_file: str) -> None:
    """The port's processor files, referring to the tiny EnCodec in `path/audio_tokenizer` by absolute path."""
    audio_tokenizer = {
        "audio_tokenizer_class": "EncodecModel",
        "audio_tokenizer_name_or_path": str(path.resolve() / AUDIO_TOKENIZER_FOLDER),
    }
    processor = {"audio_tokenizer": audio_tokenizer, "processor_class": "VocosEncodecProcessor"}
    if processor_file == "processor_config.json":
        processor["feature_extractor"] = PORT_FEATURE_EXTRACTOR
    else:
        extractor = {**PORT_FEATURE_EXTRACTOR, "processor_class": "VocosEncodecProcessor"}
        _write_json(path / "preprocessor_config.json", extractor)
    _write_json(path / "processor_config.json", processor)


def _save_earlier_port(model: VocosEncodecModel, encodec: EncodecModel, path: Path, weights: str) -> None:
    """Writes `model` in the port's earlier `vocos_with_encodec` layout (config fields and key names of then)."""
    config = model.config
    saved = {
        "adanorm_num_embeddings": len(config.bandwidths),
        "architectures": ["VocosWithEncodecModel"],
        "bandwidths": list(config.bandwidths),
        "encodec_config": encodec.config.to_diff_dict(),
        "hidden_dim": config.hidden_size,
        "hop_length": config.hop_length,
        "input_channels": config.codebook_dim,
        "intermediate_dim": config.intermediate_size,
        "kernel_size": config.kernel_size,
        "layer_norm_eps": config.layer_norm_eps,
        "layer_scale_init_value": config.layer_scale_init_value,
        "model_type": "vocos_with_encodec",
        "n_fft": config.n_fft,
        "num_layers": config.num_layers,
        "padding": config.padding,
        "spec_padding": config.istft_padding,
        "torch_dtype": "float32",
        "train_codebooks": False,
        "transformers_version": "4.55.2",
        "use_adaptive_norm": True,
    }
    _write_json(path / "config.json", saved)
    ours = model.state_dict()
    tensors = {f"encodec_model.{name}": tensor.clone() for name, tensor in encodec.state_dict().items()}
    for key in _earlier_port_keys(config.num_layers):
        tensors[key] = ours[key_for("vocos", key)].clone()
    if weights == "bin":
        torch.save(tensors, path / "pytorch_model.bin")
    else:
        save_file({name: tensor.contiguous() for name, tensor in tensors.items()}, path / "model.safetensors")


def _earlier_port_keys(num_layers: int) -> list[str]:
    keys = ["codebook_weights", "backbone.embed.weight", "backbone.embed.bias"]
    keys += ["backbone.norm.weight", "backbone.norm.bias"]
    for index in range(num_layers):
        prefix = f"backbone.layers.{index}."
        keys += [prefix + name for name in ("dwconv.weight", "dwconv.bias", "norm.weight", "norm.bias")]
        keys += [prefix + name for name in ("pwconv1.weight", "pwconv1.bias", "pwconv2.weight", "pwconv2.bias")]
        keys.append(prefix + "layer_scale_parameter")
    keys += ["backbone.final_layer_norm.weight", "backbone.final_layer_norm.bias"]
    return keys + ["head.out_proj.weight", "head.out_proj.bias", "head.window"]


def _write_json(path: Path, data: dict) -> None:
    path.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n", encoding="utf-8")


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
        original[original_key] = ours[key_for("original", original_key)].clone()
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
