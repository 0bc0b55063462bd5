"""Strict conversion of original Vocos checkpoints (charactr/vocos-encodec-24khz layout) to the transformers layout.

The original layout is a `config.yaml` with `feature_extractor`, `backbone` and `head` sections in the
`class_path`/`init_args` form of gemelo-ai/vocos, plus a `pytorch_model.bin` with keys
`feature_extractor.codebook_weights`, `backbone.*` and `head.*`. Every key goes through the explicit map below,
every shape is checked, and any missing or unexpected tensor is an error naming it; the only keys skipped are the
EnCodec weights an original checkpoint may carry under `feature_extractor.encodec.` (the codes are embedded from
`codebook_weights`, the EnCodec model itself is not part of the vocoder).
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
from pathlib import Path
from typing import Any

import torch
import yaml

from .bandwidth import CODEBOOK_SIZE, num_codebooks_for_bandwidth
from .configuration_vocos_encodec import VocosEncodecConfig

__all__ = [
    "ORIGINAL_CLASS_PATHS",
    "config_from_original",
    "convert_checkpoint",
    "convert_original_state_dict",
    "find_layout",
    "load_original_checkpoint",
    "original_key_for",
]

ORIGINAL_CLASS_PATHS = {
    "feature_extractor": "vocos.feature_extractors.EncodecFeatures",
    "backbone": "vocos.models.VocosBackbone",
    "head": "vocos.heads.ISTFTHead",
}
IGNORED_ORIGINAL_PREFIX = "feature_extractor.encodec."

# original key pattern -> transformers key template (regex groups are the layer index)
_KEY_MAP: tuple[tuple[str, str], ...] = (
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
)


def original_key_for(original_key: str) -> str | None:
    """The transformers-layout name of an original key, or None when the map has no entry for it."""
    for pattern, template in _KEY_MAP:
        match = re.fullmatch(pattern, original_key)
        if match:
            return match.expand(template)
    return None


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


def convert_original_state_dict(
    state_dict: dict[str, torch.Tensor], expected: dict[str, torch.Tensor]
) -> dict[str, torch.Tensor]:
    """Renames an original state dict to the transformers layout, strictly.

    Args:
        state_dict: The original `pytorch_model.bin` content.
        expected: The target model's state dict (names and shapes to match).

    Raises:
        ValueError: Naming every original key with no mapping or no target, every target key left without a
            tensor, and every tensor whose shape differs from the target's.
    """
    converted: dict[str, torch.Tensor] = {}
    unexpected, mismatched, mismatched_targets = [], [], set()
    for original_key, tensor in state_dict.items():
        if not isinstance(tensor, torch.Tensor) or original_key.startswith(IGNORED_ORIGINAL_PREFIX):
            continue
        key = original_key_for(original_key)
        if key is None or key not in expected:
            unexpected.append(original_key)
        elif tuple(tensor.shape) != tuple(expected[key].shape):
            mismatched.append(f"{original_key} {tuple(tensor.shape)} -> {key} {tuple(expected[key].shape)}")
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
            "original checkpoint does not match the model: "
            + "; ".join(f"{name} tensors: {', '.join(keys)}" for name, keys in problems)
        )
    return converted


def find_layout(name_or_path: str | os.PathLike, **hub_kwargs) -> str:
    """ "transformers" (config.json) or "original" (config.yaml) for a local folder or hub id.

    Raises:
        OSError: If neither file exists (FileNotFoundError locally; a hub error for ids).
        ValueError: If config.json is there but is not a `vocos_encodec` config.
    """
    config_json = _resolve(name_or_path, "config.json", hub_kwargs, required=False)
    if config_json is not None:
        model_type = VocosEncodecConfig.get_config_dict(str(config_json))[0].get("model_type")
        if model_type != VocosEncodecConfig.model_type:
            raise ValueError(f"{os.fspath(name_or_path)} holds a {model_type!r} model, not 'vocos_encodec'")
        return "transformers"
    _resolve(name_or_path, "config.yaml", hub_kwargs, required=True)
    return "original"


def load_original_checkpoint(name_or_path: str | os.PathLike, *, cls=None, **kwargs):
    """Builds a `VocosEncodecModel` from an original-layout checkpoint (config.yaml + pytorch_model.bin).

    Args:
        name_or_path: Local folder or hub id.
        cls: The model class to build (default `VocosEncodecModel`).
        **kwargs: `dtype`/`torch_dtype`, `device_map` (a device, or "auto" for CPU/the first GPU), and hub
            options (`revision`, `cache_dir`, `token`, `local_files_only`, `subfolder`, `force_download`).

    Raises:
        TypeError: For any other keyword argument.
        ValueError: If the checkpoint does not match the config exactly.
    """
    if cls is None:
        from .modeling_vocos_encodec import VocosEncodecModel as cls
    hub_names = {"revision", "cache_dir", "token", "local_files_only", "subfolder", "force_download"}
    hub_kwargs = {name: kwargs.pop(name) for name in list(kwargs) if name in hub_names}
    dtype = kwargs.pop("dtype", None) or kwargs.pop("torch_dtype", None)
    device_map = kwargs.pop("device_map", None)
    if kwargs:
        raise TypeError(f"unsupported arguments for an original-layout checkpoint: {sorted(kwargs)}")
    with open(_resolve(name_or_path, "config.yaml", hub_kwargs, required=True), encoding="utf-8") as file:
        config = config_from_original(yaml.safe_load(file))
    weights = _resolve(name_or_path, "pytorch_model.bin", hub_kwargs, required=True)
    state_dict = torch.load(weights, map_location="cpu", weights_only=True)
    model = cls(config)
    model.load_state_dict(convert_original_state_dict(state_dict, model.state_dict()), strict=True)
    model.config.name_or_path = os.fspath(name_or_path)
    if dtype is not None and dtype != "auto":
        model.to(getattr(torch, dtype) if isinstance(dtype, str) else dtype)
    if device_map is not None:
        device = ("cuda" if torch.cuda.is_available() else "cpu") if device_map == "auto" else device_map
        if not isinstance(device, (str, torch.device, int)):
            raise TypeError(f"device_map for an original-layout checkpoint must be a device or 'auto', got {device!r}")
        model.to(device)
    return model.eval()


def convert_checkpoint(source: str | os.PathLike, destination: str | os.PathLike) -> Path:
    """Writes `source` (original or transformers layout, local or hub) to `destination` in the transformers layout.

    The folder appears complete or not at all: it is written next to `destination` and renamed into place.

    Raises:
        FileExistsError: If `destination` exists and is not an empty folder.
    """
    from .modeling_vocos_encodec import VocosEncodecModel

    destination = Path(destination)
    if destination.exists() and (not destination.is_dir() or any(destination.iterdir())):
        raise FileExistsError(f"{destination} already exists and is not an empty folder")
    model = VocosEncodecModel.from_pretrained(source)
    destination.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{destination.name}.", dir=destination.parent))
    try:
        model.save_pretrained(staging)
        if destination.exists():
            destination.rmdir()
        staging.rename(destination)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return destination


def _check_arguments(section: str, arguments: dict[str, Any], known: set[str]) -> None:
    unknown = sorted(set(arguments) - known)
    if unknown:
        raise ValueError(f"config.yaml section '{section}' has unsupported init_args {unknown}; known: {sorted(known)}")


def _resolve(name_or_path: str | os.PathLike, filename: str, hub_kwargs: dict, required: bool) -> Path | None:
    """Local path of `filename` in a folder or hub repo; None when absent and not `required`."""
    folder = Path(name_or_path) / hub_kwargs.get("subfolder", "")
    if Path(name_or_path).is_dir():
        if (folder / filename).is_file():
            return folder / filename
        if required:
            raise FileNotFoundError(f"{folder} has no {filename}")
        return None
    from huggingface_hub import hf_hub_download
    from huggingface_hub.errors import EntryNotFoundError, LocalEntryNotFoundError

    try:
        return Path(hf_hub_download(os.fspath(name_or_path), filename, **hub_kwargs))
    except EntryNotFoundError as error:
        if required or isinstance(error, LocalEntryNotFoundError):
            raise
        return None
