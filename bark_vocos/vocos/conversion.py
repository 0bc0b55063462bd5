"""Strict conversion of the earlier Vocos-EnCodec checkpoint layouts to ours (the transformers port's final one).

Two layouts need converting (`layouts.py` finds which one a folder holds):

- `original` (charactr/vocos-encodec-24khz): a `config.yaml` with `feature_extractor`, `backbone` and `head`
  sections in the `class_path`/`init_args` form of gemelo-ai/vocos, plus a `pytorch_model.bin` with keys
  `feature_extractor.codebook_weights`, `backbone.*` and `head.*`.
- `vocos` (earlier revisions of the transformers port): a `config.json` of model_type `vocos_with_encodec` /
  `vocos` with `VocosConfig` fields, plus weights with keys `codebook_weights`, `backbone.*`, `head.out_proj.*`
  and `head.window`.

Every key goes through an explicit map below, every shape is checked, and any missing or unexpected tensor is an
error naming it; the only keys skipped are the EnCodec model's own weights such a checkpoint may carry
(`feature_extractor.encodec.*`, `encodec_model.*`): the codes are embedded from `codebook_weights`, EnCodec itself is
not part of the vocoder. This module builds no model (the model module calls it), so nothing here imports modeling.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file

from ..bandwidth import CODEBOOK_SIZE, num_codebooks_for_bandwidth
from .configuration_vocos_encodec import VocosEncodecConfig
from .layouts import CheckpointLayout

__all__ = [
    "IGNORED_PREFIXES",
    "ORIGINAL_CLASS_PATHS",
    "config_for_layout",
    "config_from_original",
    "config_from_vocos",
    "convert_state_dict",
    "key_for",
    "original_key_for",
    "read_state_dict",
]

ORIGINAL_CLASS_PATHS = {
    "feature_extractor": "vocos.feature_extractors.EncodecFeatures",
    "backbone": "vocos.models.VocosBackbone",
    "head": "vocos.heads.ISTFTHead",
}
# layout -> prefix of the EnCodec model's own weights, which the vocoder does not use
IGNORED_PREFIXES = {"original": "feature_extractor.encodec.", "vocos": "encodec_model."}

# layout -> (key pattern -> our key template); regex groups are the layer index and parameter name
_KEY_MAPS: dict[str, tuple[tuple[str, str], ...]] = {
    "original": (
        (r"feature_extractor\.codebook_weights", "codebook_weights"),
        (r"backbone\.embed\.(weight|bias)", r"embed.\1"),
        (r"backbone\.norm\.scale\.weight", "norm.weight"),
        (r"backbone\.norm\.shift\.weight", "norm.bias"),
        (r"backbone\.convnext\.(\d+)\.dwconv\.(weight|bias)", r"layers.\1.dwconv.\2"),
        (r"backbone\.convnext\.(\d+)\.norm\.scale\.weight", r"layers.\1.norm.weight"),
        (r"backbone\.convnext\.(\d+)\.norm\.shift\.weight", r"layers.\1.norm.bias"),
        (r"backbone\.convnext\.(\d+)\.pwconv([12])\.(weight|bias)", r"layers.\1.pwconv\2.\3"),
        (r"backbone\.convnext\.(\d+)\.gamma", r"layers.\1.layer_scale_parameter"),
        (r"backbone\.final_layer_norm\.(weight|bias)", r"final_layer_norm.\1"),
        (r"head\.out\.(weight|bias)", r"decoder.out.\1"),
        (r"head\.istft\.window", "decoder.window"),
    ),
    "vocos": (
        (r"codebook_weights", "codebook_weights"),
        (r"backbone\.embed\.(weight|bias)", r"embed.\1"),
        (r"backbone\.norm\.(weight|bias)", r"norm.\1"),
        (r"backbone\.layers\.(\d+)\.(dwconv|norm|pwconv1|pwconv2)\.(weight|bias)", r"layers.\1.\2.\3"),
        (r"backbone\.layers\.(\d+)\.layer_scale_parameter", r"layers.\1.layer_scale_parameter"),
        (r"backbone\.final_layer_norm\.(weight|bias)", r"final_layer_norm.\1"),
        (r"head\.out_proj\.(weight|bias)", r"decoder.out.\1"),
        (r"head\.(?:istft\.)?window", "decoder.window"),
    ),
}


def key_for(layout: str, key: str) -> str | None:
    """Our name for `key` of a checkpoint in `layout` ("original" or "vocos"), or None when the map has none."""
    for pattern, template in _KEY_MAPS[layout]:
        match = re.fullmatch(pattern, key)
        if match:
            return match.expand(template)
    return None


def original_key_for(original_key: str) -> str | None:
    """Our name for a key of the original layout, or None when the map has no entry for it."""
    return key_for("original", original_key)


def config_from_original(original: dict[str, Any]) -> VocosEncodecConfig:
    """A `VocosEncodecConfig` from the parsed original `config.yaml`.

    Raises:
        ValueError: If a section is missing or names a class other than EncodecFeatures / VocosBackbone /
            ISTFTHead, or an argument is not one of these classes' (a different architecture).
    """
    sections = {}
    for name, class_path in ORIGINAL_CLASS_PATHS.items():
        section = original.get(name)
        if not isinstance(section, dict) or section.get("class_path") != class_path:
            found = section.get("class_path") if isinstance(section, dict) else section
            raise ValueError(f"config.yaml section '{name}' must have class_path {class_path}, found {found!r}")
        sections[name] = dict(section.get("init_args") or {})
    features, backbone, head = sections["feature_extractor"], sections["backbone"], sections["head"]
    _check_arguments("feature_extractor", features, {"encodec_model", "bandwidths", "train_codebooks"})
    _check_arguments(
        "backbone",
        backbone,
        {"input_channels", "dim", "intermediate_dim", "num_layers", "layer_scale_init_value", "adanorm_num_embeddings"},
    )
    _check_arguments("head", head, {"dim", "n_fft", "hop_length", "padding"})
    if features.get("encodec_model", "encodec_24khz") != "encodec_24khz":
        raise ValueError(f"only encodec_24khz is supported, config.yaml has {features['encodec_model']!r}")
    bandwidths = [float(bandwidth) for bandwidth in features.get("bandwidths", [1.5, 3.0, 6.0, 12.0])]
    if backbone.get("adanorm_num_embeddings") != len(bandwidths):
        raise ValueError(
            f"backbone adanorm_num_embeddings must equal the {len(bandwidths)} bandwidths, "
            f"got {backbone.get('adanorm_num_embeddings')!r}"
        )
    if head["dim"] != backbone["dim"]:
        raise ValueError(f"head dim {head['dim']} differs from backbone dim {backbone['dim']}")
    num_layers = int(backbone["num_layers"])
    return VocosEncodecConfig(
        codebook_dim=int(backbone["input_channels"]),
        num_quantizers=CODEBOOK_SIZE * num_codebooks_for_bandwidth(max(bandwidths)),
        hidden_size=int(backbone["dim"]),
        intermediate_size=int(backbone["intermediate_dim"]),
        num_layers=num_layers,
        layer_scale_init_value=float(backbone.get("layer_scale_init_value") or 1 / num_layers),
        n_fft=int(head["n_fft"]),
        hop_length=int(head["hop_length"]),
        istft_padding=head.get("padding", "same"),
        bandwidths=bandwidths,
    )


def config_from_vocos(config: dict[str, Any]) -> VocosEncodecConfig:
    """A `VocosEncodecConfig` from the `config.json` of the port's earlier `vocos` / `vocos_with_encodec` layout.

    Both field spellings of the earlier `VocosConfig` revisions are read (`hidden_dim` / `hidden_size`,
    `intermediate_dim` / `intermediate_size`, `spec_padding` / `istft_padding`, `sampling_rate` / `sample_rate`).

    Raises:
        ValueError: If it is not an adaptive-norm (EnCodec) Vocos, or its number of adaptive-norm embeddings
            differs from its number of bandwidths.
    """
    if config.get("use_adaptive_norm") is not True:
        raise ValueError("config.json has use_adaptive_norm false: a mel-spectrogram Vocos, not the EnCodec one")
    bandwidths = [float(bandwidth) for bandwidth in config.get("bandwidths", [1.5, 3.0, 6.0, 12.0])]
    embeddings = config.get("adanorm_num_embeddings", config.get("num_bandwidths", len(bandwidths)))
    if embeddings != len(bandwidths):
        raise ValueError(f"config.json has {embeddings} adaptive-norm embeddings for {len(bandwidths)} bandwidths")

    def value(*names: str, default: Any = None) -> Any:
        for name in names:
            if name in config:
                return config[name]
        if default is None:
            raise ValueError(f"config.json has no {' / '.join(names)}")
        return default

    return VocosEncodecConfig(
        codebook_dim=int(value("input_channels")),
        num_quantizers=CODEBOOK_SIZE * num_codebooks_for_bandwidth(max(bandwidths)),
        hidden_size=int(value("hidden_dim", "hidden_size")),
        intermediate_size=int(value("intermediate_dim", "intermediate_size")),
        num_layers=int(value("num_layers")),
        kernel_size=int(value("kernel_size", default=7)),
        padding=int(value("padding", default=3)),
        layer_scale_init_value=float(value("layer_scale_init_value", default=0.125)),
        layer_norm_eps=float(value("layer_norm_eps", default=1e-6)),
        n_fft=int(value("n_fft")),
        hop_length=int(value("hop_length")),
        istft_padding=str(value("spec_padding", "istft_padding", default="same")),
        sample_rate=int(value("sampling_rate", "sample_rate", default=24000)),
        bandwidths=bandwidths,
    )


def config_for_layout(layout: CheckpointLayout) -> VocosEncodecConfig:
    """The `VocosEncodecConfig` a checkpoint of any known layout loads as (its saved config, converted)."""
    if layout.name == "original":
        return config_from_original(layout.config)
    if layout.name == "vocos":
        return config_from_vocos(layout.config)
    return VocosEncodecConfig.from_dict(layout.config)


def read_state_dict(path: str | Path) -> dict[str, torch.Tensor]:
    """The tensors of a `.safetensors` or `.bin` weights file, on CPU (`.bin` is read with `weights_only=True`)."""
    path = Path(path)
    if path.suffix == ".safetensors":
        return load_file(path, device="cpu")
    return torch.load(path, map_location="cpu", weights_only=True)


def convert_state_dict(
    layout: str, state_dict: dict[str, torch.Tensor], expected: dict[str, torch.Tensor]
) -> dict[str, torch.Tensor]:
    """Renames a state dict of the `original` or `vocos` layout to ours, strictly.

    Args:
        layout: "original" or "vocos".
        state_dict: The checkpoint's tensors.
        expected: The target model's state dict (names and shapes to match).

    Raises:
        ValueError: Naming every key with no mapping or no target, every target key left without a tensor, and
            every tensor whose shape differs from the target's.
    """
    if layout not in _KEY_MAPS:
        raise ValueError(f"layout {layout!r} needs no conversion or is unknown; convertible layouts: {list(_KEY_MAPS)}")
    converted: dict[str, torch.Tensor] = {}
    unexpected, mismatched, mismatched_targets = [], [], set()
    for source_key, tensor in state_dict.items():
        if not isinstance(tensor, torch.Tensor) or source_key.startswith(IGNORED_PREFIXES[layout]):
            continue
        key = key_for(layout, source_key)
        if key is None or key not in expected:
            unexpected.append(source_key)
        elif tuple(tensor.shape) != tuple(expected[key].shape):
            mismatched.append(f"{source_key} {tuple(tensor.shape)} -> {key} {tuple(expected[key].shape)}")
            mismatched_targets.add(key)
        else:
            converted[key] = tensor
    missing = sorted(key for key in expected if key not in converted and key not in mismatched_targets)
    problems = [
        (name, keys)
        for name, keys in (("missing", missing), ("unexpected", sorted(unexpected)), ("mis-shaped", mismatched))
        if keys
    ]
    if problems:
        raise ValueError(
            f"{layout} checkpoint does not match the model: "
            + "; ".join(f"{name} tensors: {', '.join(keys)}" for name, keys in problems)
        )
    return converted


def _check_arguments(section: str, arguments: dict[str, Any], known: set[str]) -> None:
    unknown = sorted(set(arguments) - known)
    if unknown:
        raise ValueError(f"config.yaml section '{section}' has unsupported init_args {unknown}; known: {sorted(known)}")
